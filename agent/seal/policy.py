"""The seal policy: the rule bundle's `seal` section plus agent-side tuning."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SealPolicy:
    """What the rules say about sealing, plus agent-side tuning (each with a safe default)."""

    idle_threshold_seconds: float = 300.0
    seal_on_lock: bool = True
    seal_before_sleep: bool = True
    unseal_on_return: bool = True  # False: keep sealed until the employee unseals
    report_paths: bool = False  # send pending paths (relative to their folder)
    busy_retry_seconds: float = 15.0
    failure_retry_seconds: float = 300.0
    sleep_budget_seconds: float = 2.0
    parallel_files: int = 2  # groups sealed at once: I/O and crypto overlap across cores
    group_files: int = 32  # files of one folder sealed together: one folder fsync, 3 commits
    group_bytes: int = 32 * 1024 * 1024  # ...and about this many bytes (a larger file alone)

    @classmethod
    def from_rules(cls, seal: object, **overrides: object) -> SealPolicy:
        """From a rule bundle's `seal` section; fields it lacks keep their defaults."""
        values = {name: getattr(seal, name) for name in cls.__dataclass_fields__
                  if hasattr(seal, name)}
        values.update(overrides)
        return cls(**values)
