"""Shared fixtures: generated GTZAN-shaped data and the real files in ../shared/."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/, or a skip that says what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared/ folder), which is absent here")
    return path


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """3 clips per genre, 30 s, GTZAN layout: shared read-only by the tests that only read it."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, clips_per_genre=3, seconds=30.0, seed=0)
    return root
