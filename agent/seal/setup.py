"""Assemble the seal stack for one state folder: key, database, engine, service.

Used by the seal sensor inside the running agent and by the `seal-now`/`unseal-now`/
`seal-status` commands, so both work on the same journal (`seal.db`) and serialise their work
with the same lock file (`seal.lock`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.platform.files import ProcessLock
from agent.seal.db import SealDB
from agent.seal.engine import SealEngine
from agent.seal.events import SealEvent
from agent.seal.folders import ProtectedFolder, resolve_protected_folders
from agent.seal.journal import Journal
from agent.seal.keys import DeviceKey, load_device_key
from agent.seal.pending import PendingJournal
from agent.seal.policy import SealPolicy
from agent.seal.service import SealService

SEAL_DB, SEAL_LOCK = "seal.db", "seal.lock"


def seal_settings(bundle: Any) -> Any:
    """The bundle's `seal` section, or the rules' defaults when there is no bundle."""
    if bundle is not None and getattr(bundle, "seal", None) is not None:
        return bundle.seal
    from rules.model import SealSettings

    return SealSettings()


def folders_for(specs: Iterable[str], known: Mapping[str, Path],
                home: Path | None = None) -> list[ProtectedFolder]:
    """Protected folders on this laptop (`known` is the platform's known-folders mapping)."""
    return resolve_protected_folders(specs, known, home or Path.home())


def never_sealed(home: Path) -> tuple[Path, ...]:
    """Folders the agent refuses to seal even inside a protected folder: its state folder
    `home` (the journal and key must stay readable) and the installation it runs from (the
    Python environment, e.g. a checkout's `.venv`, and the folder holding the agent's own
    code), since sealing those would stop the agent - and unsealing - from starting again.
    Only the packages themselves are excluded, not the folder above them: in a source checkout
    that folder is the whole repository, and in site-packages it is everything installed."""
    import agent
    import rules

    code = [Path(package.__file__).resolve().parent for package in (agent, rules)]
    found = [Path(home), Path(sys.prefix), Path(sys.exec_prefix), *code]
    if sys.executable:  # a frozen (PyInstaller) agent's own folder; "" when embedded
        found.append(Path(sys.executable).parent)
    return tuple(dict.fromkeys(found))


@dataclass
class SealStack:
    """Everything sealing needs for one state folder."""

    db: SealDB
    engine: SealEngine
    service: SealService
    device_key: DeviceKey

    def close(self) -> None:
        """Stop the service and close the database."""
        self.service.stop()
        self.db.close()


def build(home: Path, *, folders: list[ProtectedFolder], policy: SealPolicy,
          device_key: DeviceKey | None = None, backend: object | None = None,
          clock: Callable[[], float] = time.time,
          emit: Callable[[SealEvent], None] | None = None, lock_timeout: float = 600.0,
          **engine_options: Any) -> SealStack:
    """The seal stack of the state folder `home` (the device key is made on first use)."""
    home = Path(home)
    device_key = device_key or load_device_key(home, backend=backend)
    db = SealDB(home / SEAL_DB)
    engine = SealEngine(Journal(db, clock), device_key.key, open_keys=device_key.open_keys(),
                        clock=clock, **engine_options)
    service = SealService(engine, PendingJournal(db, clock), folders, policy=policy,
                          key_status=device_key.status(), clock=clock, emit=emit,
                          process_lock=ProcessLock(home / SEAL_LOCK), lock_timeout=lock_timeout,
                          exclude=never_sealed(home))
    return SealStack(db, engine, service, device_key)
