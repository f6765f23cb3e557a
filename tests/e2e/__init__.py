"""End-to-end tests through the local emulator.

A package, so pytest imports this folder's conftest.py and test modules as
`e2e.*`: a second top-level `conftest` would replace tests/conftest.py for
modules collected later, and `test_webhooks` exists under tests/worker too.
The folder also goes on sys.path, so test modules import helpers the way the
other test folders do (`from e2e_support import Emulator`).
"""

import sys
from pathlib import Path

_FOLDER = str(Path(__file__).resolve().parent)
if _FOLDER not in sys.path:
    sys.path.insert(0, _FOLDER)
