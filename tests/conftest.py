"""Shared test helpers: where the recorded fixtures live."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FIXTURES = PROJECT_ROOT / "fixtures"
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def shared_fixture(*parts: str) -> Path:
    """Return a path under ../shared/fixtures, skipping the test when it is absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"recorded fixture {path} is absent: "
            "put the shared fixtures folder beside the project"
        )
    return path
