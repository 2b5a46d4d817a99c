"""How an upload or a file, read as chunks, is handed to the sign-in parsers.

The parsers treat an iterable of chunks as a stream of lines; a JSON document (an Okta API
array, a Graph page) or a Windows export must come whole instead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

# Line formats: parsed as the body streams in.
LINE_FORMATS = frozenset({"sshd", "generic", "generic-csv", "generic-ndjson"})


def ingest_input(format_name: str, chunks: Iterator[bytes]) -> bytes | Iterator[bytes]:
    """What to hand the parser for an upload or file read as chunks. Line formats and NDJSON
    stream chunk by chunk (the parsers treat a chunk stream as lines); a JSON array or page
    (Okta API, Graph) or a Windows XML/JSON export is one document, read whole (an upload's
    size is bounded by max_ingest_bytes)."""
    if format_name in LINE_FORMATS:
        return chunks
    head = b""
    for chunk in chunks:
        head += chunk
        if b"\n" in head.lstrip() or len(head) > 1_048_576:
            break
    first = head.lstrip().split(b"\n", 1)[0].strip()
    if format_name != "windows" and first.startswith(b"{") and _is_json_object(first):
        return itertools.chain([head], chunks)  # NDJSON: one object per line
    return head + b"".join(chunks)


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
