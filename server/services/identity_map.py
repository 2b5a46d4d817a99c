"""Which employee an identity from a log belongs to, through the emails and aliases the core
stores (`storage.employees`).

Names are compared case-insensitively (`normalise_identity`). An identity that matches no email
or alias as written is tried once more by its bare account name: `CORP\\e1042` and
`e1042@corp.onmicrosoft.com` as `e1042` — but only against aliases, which administrators add
on purpose, never against emails. Lookups are cached per ingestion run and done in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from server.storage.employees import normalise_identity
from server.storage.models import Employee, EmployeeAlias

CACHE_LIMIT = 200_000


def bare_name(identity: str) -> str | None:
    """`DOMAIN\\user` or `user@domain` -> `user` (normalised); None when there is no domain."""
    key = normalise_identity(identity)
    if "\\" in key:
        name = key.rsplit("\\", 1)[1]
    elif "@" in key:
        name = key.split("@", 1)[0]
    else:
        return None
    return name or None


class IdentityMapper:
    """identity (as a log spells it) -> employee id or None, with a cache."""

    def __init__(self) -> None:
        self._cache: dict[str, int | None] = {}

    def resolve(self, conn: Connection, identities: Iterable[str]) -> None:
        """Look up every identity not cached yet, in a few bulk queries."""
        missing = {i for i in identities if i not in self._cache}
        if not missing:
            return
        if len(self._cache) + len(missing) > CACHE_LIMIT:
            self._cache.clear()
        keys = {i: normalise_identity(i) for i in missing}
        bare = {i: bare_name(i) for i in missing}
        emails, aliases = self._lookup(conn, set(keys.values()),
                                       {b for b in bare.values() if b})
        for identity in missing:
            key, short = keys[identity], bare[identity]
            found = emails.get(key) or aliases.get(key)
            if found is None and short is not None:
                found = aliases.get(short)
            self._cache[identity] = found

    def get(self, identity: str) -> int | None:
        """The employee id of a resolved identity (None: unmapped)."""
        return self._cache.get(identity)

    @staticmethod
    def _lookup(conn: Connection, keys: set[str], bare: set[str]
                ) -> tuple[dict[str, int], dict[str, int]]:
        emails: dict[str, int] = {}
        aliases: dict[str, int] = {}
        names = sorted(keys)
        for start in range(0, len(names), 900):
            chunk = names[start:start + 900]
            emails.update(conn.execute(select(Employee.email, Employee.id)
                                       .where(Employee.email.in_(chunk))).all())
        wanted = sorted(keys | bare)
        for start in range(0, len(wanted), 900):
            chunk = wanted[start:start + 900]
            aliases.update(conn.execute(
                select(EmployeeAlias.alias_normalised, EmployeeAlias.employee_id)
                .where(EmployeeAlias.alias_normalised.in_(chunk))).all())
        return emails, aliases
