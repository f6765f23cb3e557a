"""Run the command line: `python -m shared_routing --help`."""

import sys

from .cli import main

sys.exit(main())
