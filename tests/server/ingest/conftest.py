"""Fixtures for the sign-in parser tests: the sample exports written for them."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def ingest_samples() -> Path:
    """Realistic exports (Okta, Graph, Windows, sshd, generic) made for these tests."""
    return SAMPLES
