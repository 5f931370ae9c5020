"""Shared fixtures: the real OLMo ladder data in ../shared, and output folders."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "olmo-ladder"


@pytest.fixture(scope="session")
def olmo_data() -> Path:
    """The paper's ladder data (../shared/data/olmo-ladder); tests that need it fail loudly without it."""
    if not (SHARED_DATA / "ladder-runs").is_dir():
        pytest.fail(f"real ladder data not found at {SHARED_DATA} (CI lays ../shared beside the checkout)")
    return SHARED_DATA
