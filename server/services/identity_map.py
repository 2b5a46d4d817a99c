"""Which employee an identity from a log belongs to, through the emails and aliases the core
stores (`storage.employees`).

Names are compared case-insensitively (`normalise_identity`). An identity that matches no email
or alias as written is tried once more by its bare account name: `CORP\\e1042` and
`e1042@corp.onmicrosoft.com` as `e1042` — but only against aliases, which administrators add
on purpose, never against emails. Lookups are cached per ingestion run and done in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

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

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self._cache: dict[str, int | None] = {}
        self.limit = limit  # identities kept; past it the cache starts again

    def resolve(self, conn: Connection, identities: Iterable[str]) -> None:
        """Look up every identity not cached yet, in a few bulk queries; afterwards `get`
        answers for each of `identities`."""
        wanted = identities if isinstance(identities, set | frozenset) else set(identities)
        missing = wanted - self._cache.keys()
        if not missing:
            return
        if len(self._cache) + len(missing) > self.limit:
            self._cache.clear()  # then every wanted identity must be looked up again
            missing = set(wanted)
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
        for among in _among(conn, Employee.email, keys):
            emails.update(conn.execute(select(Employee.email, Employee.id).where(among)).all())
        for among in _among(conn, EmployeeAlias.alias_normalised, keys | bare):
            aliases.update(conn.execute(
                select(EmployeeAlias.alias_normalised, EmployeeAlias.employee_id)
                .where(among)).all())
        return emails, aliases


def _among(conn: Connection, column: Any, names: set[str]) -> Iterator[Any]:
    """`column IN names` as few conditions as the dialect allows: one `= ANY(array)` on
    PostgreSQL (one parameter: thousands of names cost no statement building), IN lists of
    900 on SQLite (its variable limit)."""
    items = sorted(names)
    if not items:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam("names", items, type_=ARRAY(String)))
        return
    for start in range(0, len(items), 900):
        yield column.in_(items[start:start + 900])
