"""Helpers for the rules tests: small bundle documents and files written to tmp dirs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MINIMAL_YAML = """\
schema: 1
version: 4
categories:
  gambling:
    description: Online gambling
    domains: [casino.com, bet.example]
nudges:
  - categories: [gambling]
    countries: any
    messages: ["{site} is a {category} site"]
"""


def minimal(**overrides: Any) -> dict[str, Any]:
    """A valid bundle mapping; keyword arguments replace top-level sections."""
    data: dict[str, Any] = {
        "schema": 1,
        "version": 4,
        "categories": {"gambling": {"description": "Online gambling",
                                    "domains": ["casino.com", "bet.example"]}},
        "nudges": [{"categories": ["gambling"], "countries": "any",
                    "messages": ["{site} is a {category} site"]}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write(relative_name, text) -> path, with the text dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def make_data() -> Callable[..., dict[str, Any]]:
    """The `minimal` factory, for tests (test modules cannot import conftest directly)."""
    return minimal


@pytest.fixture
def minimal_yaml() -> str:
    """The same minimal bundle as YAML text."""
    return MINIMAL_YAML
