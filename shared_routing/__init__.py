"""Decide which runner pool a GitHub build runs on, and account for what it cost.

The package is pure: it parses, decides and renders, and leaves every effect
(network, storage, clocks) to its caller. It runs under CPython 3.11+ and under
Pyodide inside a Cloudflare Python Worker.
"""

__version__ = "0.1.0"
