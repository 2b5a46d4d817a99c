"""The asyncio connection pool of the check-in path (PostgreSQL only): its connections plan
for index lookups and carry the statement timeout."""

from __future__ import annotations

import asyncio

import pytest

from server.storage.async_pool import AsyncPool, conninfo_from_url


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_pool_connections_use_generic_index_plans_and_the_timeout(migrated_url):
    pool = AsyncPool(conninfo_from_url(migrated_url, statement_timeout_ms=2500), size=2)

    async def settings() -> list[str]:
        async with pool.connection() as conn:
            shown = []
            for name in ("plan_cache_mode", "enable_seqscan", "statement_timeout"):
                cursor = await conn.execute(f"SHOW {name}")
                shown.append((await cursor.fetchone())[0])
            return shown

    try:
        assert asyncio.run(settings()) == ["force_generic_plan", "off", "2500ms"]
    finally:
        pool.close()
