"""Fixtures for the seal tests: a key, a journal database and an engine on real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.seal.db import SealDB
from agent.seal.engine import SealEngine
from agent.seal.fileops import FileOps
from agent.seal.journal import Journal

KEY = bytes(range(32))


def not_busy(path: Path) -> None:
    """A busy probe that finds nothing open (tests that need one pass the real probe)."""
    return None


@pytest.fixture
def db(tmp_path: Path):
    database = SealDB(tmp_path / "seal.db")
    yield database
    database.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "Sensitive"
    path.mkdir()
    return path


@pytest.fixture
def make_engine(db: SealDB) -> Callable[..., SealEngine]:
    def make(ops: FileOps | None = None, **options) -> SealEngine:
        options.setdefault("settle_seconds", 0)
        options.setdefault("busy_probe", not_busy)
        return SealEngine(Journal(db), KEY, ops=ops, **options)

    return make
