"""The seal status: what `heedful-agent seal-status` prints and the check-in carries.

Built from the database alone (plus the key status and folders), so the CLI can show it while
the agent runs in another process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from agent.seal.events import rfc3339
from agent.seal.folders import ProtectedFolder
from agent.seal.journal import Journal
from agent.seal.pending import PendingJournal
from agent.seal.policy import SealPolicy


@dataclass(frozen=True)
class SealStatus:
    """Counts and times. `state`: active, away, sealing, unsealing (or unknown from the CLI)."""

    state: str
    away_reason: str
    pending_files: int
    pending_bytes: int
    busy_files: int
    busy_bytes: int
    failed_files: int
    sealed_files: int
    sealed_bytes: int  # plaintext bytes now under seal
    sealed_disk_bytes: int
    last_seal_at: float | None
    last_seal_reason: str
    last_unseal_at: float | None
    key_store: str
    key_store_weaker: bool
    key_id: str
    unresolved_operations: int
    idle_threshold_seconds: float
    unseal_on_return: bool
    folders: tuple[tuple[str, str, bool], ...]  # (entry as written, local path, exists)

    def as_dict(self, *, local: bool = True) -> dict[str, object]:
        """JSON form; `local=False` (the check-in) leaves out local folder paths."""
        data = asdict(self)
        for key in ("last_seal_at", "last_unseal_at"):
            data[key] = rfc3339(data[key]) if data[key] is not None else None
        data["folders"] = [{"folder": spec, "exists": exists} | ({"path": path} if local else {})
                           for spec, path, exists in self.folders]
        return data

    def lines(self) -> list[str]:
        """Human-readable lines for the terminal."""
        last = rfc3339(self.last_seal_at) if self.last_seal_at else "never"
        lines = [
            f"state:         {self.state}" + (f" ({self.away_reason})" if self.away_reason else ""),
            f"pending:       {_files(self.pending_files)}, {_size(self.pending_bytes)}",
            f"busy/exposed:  {_files(self.busy_files)}, {_size(self.busy_bytes)}",
            f"failed:        {_files(self.failed_files)}",
            f"sealed:        {_files(self.sealed_files)}, {_size(self.sealed_bytes)}",
            f"last seal:     {last}" + (f" ({self.last_seal_reason})"
                                        if self.last_seal_reason else ""),
            f"key store:     {self.key_store}" + (f" [key id {self.key_id}]"
                                                  if self.key_id else ""),
        ]
        if self.unresolved_operations:
            lines.append(f"unfinished:    {self.unresolved_operations} operations "
                         "(retried at the next start)")
        lines += [f"folder:        {spec} -> {path}" + ("" if exists else " (missing)")
                  for spec, path, exists in self.folders]
        return lines


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _float_meta(journal: Journal, key: str) -> float | None:
    value = journal.db.get_meta(key)
    return float(value) if value is not None else None


def build_status(journal: Journal, pending: PendingJournal, folders: list[ProtectedFolder],
                 policy: SealPolicy, *, key_status: dict[str, object], state: str = "unknown",
                 away_reason: str = "", unresolved: int | None = None) -> SealStatus:
    """Assemble the status from the database, the key status and the folder list."""
    totals = pending.totals()
    sealed_files, sealed_bytes, sealed_disk = journal.sealed_totals()
    if unresolved is None:
        unresolved = len(journal.open_ops())
    return SealStatus(
        state, away_reason, totals.files, totals.bytes, totals.busy_files, totals.busy_bytes,
        totals.failed_files, sealed_files, sealed_bytes, sealed_disk,
        _float_meta(journal, "last_seal_at"), journal.db.get_meta("last_seal_reason") or "",
        _float_meta(journal, "last_unseal_at"), str(key_status.get("store", "unknown")),
        bool(key_status.get("weaker", False)), str(key_status.get("key_id", "")), unresolved,
        policy.idle_threshold_seconds, policy.unseal_on_return,
        tuple((f.spec, str(f.path), f.path.is_dir()) for f in folders))
