"""Run every benchmark module (or those named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

SKIP = {"report", "__main__", "signin_data"}  # signin_data: a generator, not a benchmark


def main() -> None:
    names = sys.argv[1:] or sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name not in SKIP
    )
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        module.main([])


if __name__ == "__main__":
    main()
