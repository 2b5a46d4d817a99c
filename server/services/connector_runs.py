"""Running the Okta and Graph pull connectors into the database.

The connectors (server.ingest.connectors) page through the vendors' APIs and keep their
position in a CursorStore; `DatabaseCursorStore` keeps it in the connector_cursors table, so a
pull that stops (crash, rate limit, Ctrl-C) resumes where it was, from any replica. Each page
is ingested and committed before the connector is asked for the next one, which is when it
saves the cursor: a page is never skipped, and one fetched twice is harmless (event ids).
"""

from __future__ import annotations

from typing import Any

from server.services.clock import Clock, utc_now
from server.services.ingestion import Ingestor
from server.storage import connector_cursors
from server.storage.db import Database


class DatabaseCursorStore:
    """A connector CursorStore in the database; each get/set is its own transaction."""

    def __init__(self, db: Database, now: Clock = utc_now) -> None:
        self.db, self.now = db, now

    def get(self, key: str) -> str | None:
        with self.db.transaction() as session:
            return connector_cursors.get_cursor(session, key)

    def set(self, key: str, value: str) -> None:
        with self.db.transaction() as session:
            connector_cursors.set_cursor(session, key, value, self.now())


def pull(connector: Any, ingestor: Ingestor, *, max_pages: int | None = None
         ) -> dict[str, Any]:
    """Ingest pages until the connector is caught up (or `max_pages`); returns the report
    plus `pages`. Rejected records' `line` is their position within their page."""
    pages = 0
    iterator = connector.pages()
    for page in iterator:
        ingestor.feed(page.items)
        ingestor.flush()
        pages += 1
        if max_pages is not None and pages >= max_pages:
            connector.cursor_store.set(connector.cursor_key, page.cursor)
            break
    return {"pages": pages, **ingestor.report.as_dict()}
