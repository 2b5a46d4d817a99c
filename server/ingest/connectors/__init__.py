"""Pull connectors: fetch sign-ins from identity providers' APIs, page by page.

Each connector's `pages()` yields `Page(items, cursor)`; the cursor lives in an injected
`CursorStore` (get/set by key) so storage can keep it across runs and replicas.
"""

from server.ingest.connectors.base import (
    ConnectorError,
    CursorStore,
    MemoryCursorStore,
    Page,
)
from server.ingest.connectors.graph import GraphSignInConnector
from server.ingest.connectors.okta import OktaLogConnector

__all__ = ["ConnectorError", "CursorStore", "GraphSignInConnector", "MemoryCursorStore",
           "OktaLogConnector", "Page"]
