"""The default rule bundle shipped with Heedful, and its curated category lists.

`bundle.yaml` is a complete, sensible policy (nudge rules, seal, login alerts, check-in) whose
categories refer to the small lists in `lists/`, written for this project (well-known sites per
category, not copied from any third-party list).
"""

from __future__ import annotations

from pathlib import Path

from rules.loader import load_bundle_file
from rules.model import Bundle


def default_bundle_path() -> Path:
    """Path of the default bundle file (its list files sit next to it in `lists/`)."""
    return Path(__file__).resolve().parent / "bundle.yaml"


def load_default_bundle(*, resolve: bool = True) -> Bundle:
    """The default bundle, validated and (by default) resolved: ready to sign."""
    return load_bundle_file(default_bundle_path(), resolve=resolve)
