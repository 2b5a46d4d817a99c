"""Field types of the bundle model: each one validates, normalises and explains itself.

Validators raise ValueError with a message that names the offending value; `rules.validation`
turns them into `path: reason` lines.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

from rules.countries import normalize_country_code
from rules.domains import normalize_domain
from rules.folders import parse_folder

COUNTRY_KEYWORDS = ("any", "outside_home")
MESSAGE_PLACEHOLDERS = ("category", "description", "site", "country", "country_code", "reason")
_CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def format_rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix; fractional seconds only when present."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone; write it in UTC with a 'Z' "
                         "suffix, e.g. 2025-01-31T09:00:00Z")
    return value.astimezone(UTC)


def _country(value: Any) -> str:
    return normalize_country_code(value)


def _country_or_keyword(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in COUNTRY_KEYWORDS:
        return value.strip().lower()
    if isinstance(value, str) and len(value.strip()) != 2:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code, 'any' or 'outside_home'")
    return normalize_country_code(value)


def _category_name(value: Any) -> str:
    if not isinstance(value, str) or not _CATEGORY_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid category name (lower-case letters, digits, "
                         "'_' and '-', starting with a letter or digit, at most 63 characters)")
    return value


def _domain(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a domain name (expected text)")
    return normalize_domain(value)


def _folder(value: str) -> str:
    parse_folder(value)
    return value.strip()


def _template(value: str) -> str:
    """Check a message template: only known {placeholders}, balanced braces, not blank."""
    if not value.strip():
        raise ValueError("message is empty")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc} (write '{{{{' and '}}}}' for literal braces)") from None
    for field in fields:
        if field not in MESSAGE_PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in MESSAGE_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{field}}}; use one of {allowed}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


CountryCode = Annotated[str, BeforeValidator(_country)]
"""An ISO 3166-1 alpha-2 code, any case on input, upper case once validated."""

CountryOrKeyword = Annotated[str, BeforeValidator(_country_or_keyword)]
CategoryName = Annotated[str, BeforeValidator(_category_name)]
Domain = Annotated[str, BeforeValidator(_domain)]
"""A host name or IP literal, normalised (see rules.domains.normalize_domain)."""

UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc), PlainSerializer(format_rfc3339)]
FolderText = Annotated[str, AfterValidator(_folder)]
MessageTemplate = Annotated[str, AfterValidator(_template)]
ListRef = Annotated[str, AfterValidator(_not_blank)]
StrictInt = Annotated[int, Field(strict=True)]
StrictFloat = Annotated[float, Field(strict=True)]
