"""The interpreter under the core tests: CPython 3.11+ or Pyodide's Python 3.14."""

from __future__ import annotations

import sys

from hypothesis import settings


def test_python_version_fits_platform() -> None:
    if sys.platform == "emscripten":
        assert sys.version_info[:2] == (3, 14)
    else:
        assert sys.version_info >= (3, 11)


def test_hypothesis_profile_under_pyodide() -> None:
    if sys.platform != "emscripten":
        return
    assert settings().database is None
    assert settings().deadline is None
