"""Print, as JSON, what the emulator needs to know about the project.

The emulator host runs this under the project's CPython (the venv) at start-up,
because Node has no TOML parser and the `workers` SDK is installed in the venv:

    python emulator/project.py wrangler.toml

Output: {"wrangler": <wrangler.toml as a table>, "sdk_dir": <folder of the
`workers` package>}. The SDK folder is found without importing the package,
because it only imports under Pyodide.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path


def find_sdk_dir() -> str:
    """Return the folder of the installed `workers` package (workers-runtime-sdk)."""
    spec = importlib.util.find_spec("workers")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "the `workers` package (PyPI workers-runtime-sdk) is not installed in "
            f"{sys.prefix}: run `make install`"
        )
    return str(spec.submodule_search_locations[0])


def read_wrangler(path: Path) -> dict[str, object]:
    """Parse `path` as TOML, exiting with the file and the parser's message on error."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SystemExit(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise SystemExit(f"{path}: invalid TOML: {error}") from None


def main(argv: list[str]) -> None:
    """Write the project description for the wrangler.toml named in `argv`."""
    if len(argv) != 1:
        raise SystemExit("usage: project.py WRANGLER_TOML")
    info = {"wrangler": read_wrangler(Path(argv[0])), "sdk_dir": find_sdk_dir()}
    # TOML dates and times have no JSON form; wrangler.toml keys never use them.
    json.dump(info, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
