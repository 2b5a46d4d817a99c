"""Canonical bytes: the exact byte string a bundle signature covers.

Rules (every signer and verifier must produce identical bytes for the same JSON value):

* JSON (RFC 8259) encoded as UTF-8; non-ASCII characters are written as themselves, not as
  `\\u` escapes;
* object keys sorted by Unicode code point; no whitespace outside strings
  (separators `,` and `:`);
* datetimes as RFC 3339 in UTC with a `Z` suffix (`2025-01-31T09:00:00Z`, fractional seconds
  only when present); tuples as arrays;
* NaN and infinities are refused (they are not JSON).

The verifier computes these bytes from the `bundle` object *as received* in the envelope, so
whitespace or key order in the envelope file never matters, but any change of value does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rules.types import format_rfc3339


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from `value`: datetimes as RFC 3339 UTC, tuples as lists.

    Mapping keys must be strings: JSON has no other kind, and silently converting them would
    let two different values share canonical bytes.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be made canonical")
        return format_rfc3339(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping key {key!r} is not a string")
            out[key] = to_jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"{type(value).__name__} value {value!r} has no canonical JSON form")


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON bytes of `value` (see module docstring)."""
    text = json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def bundle_canonical_bytes(bundle: Any) -> bytes:
    """Canonical bytes of a Bundle (through its JSON-ready dict) or of a bundle mapping."""
    data = bundle.to_dict() if hasattr(bundle, "to_dict") else bundle
    return canonical_bytes(data)
