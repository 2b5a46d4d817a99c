"""Uniform output for benchmarks: a result next to its same-run baseline, as a ratio."""

from __future__ import annotations


def header(title: str) -> None:
    """Print a section title for one benchmark."""
    print(f"\n== {title} ==")


def ratio(name: str, value: float, baseline: float, unit: str, *, baseline_name: str,
          goal: str = "") -> None:
    """Print `value` next to `baseline` (same unit) and value/baseline."""
    r = value / baseline if baseline else float("inf")
    line = (f"{name:<38} {value:>14,.2f} {unit:<10} | {baseline_name}: {baseline:,.2f} {unit}"
            f" | ratio {r:.3f}")
    if goal:
        line += f" | goal: {goal}"
    print(line)


def figure(name: str, value: float, unit: str, goal: str = "") -> None:
    """Print a standalone figure (e.g. a latency percentile) with an optional goal."""
    line = f"{name:<38} {value:>14,.2f} {unit}"
    if goal:
        line += f" | goal: {goal}"
    print(line)
