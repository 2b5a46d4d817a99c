"""Turning parser input (bytes, text or an iterable of lines) into lines or JSON records.

Parsers never open files: a caller hands them bytes (an upload body), a str, or an iterable of
chunks of a stream (an open file, whose lines keep their line endings, or a streamed request
body cut anywhere). An iterable's items are joined as a stream, so lines in a list must keep
their "\n". These helpers give every parser the same view.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from server.ingest import fastjson
from server.ingest.record import Rejection

Input = bytes | str | Iterable[bytes] | Iterable[str]
_NON_SPACE = re.compile(r"\S")


def _decode(chunk: bytes | str) -> str:
    if isinstance(chunk, bytes):
        # PowerShell 5.1 redirection writes UTF-16 with a BOM; everything else is UTF-8.
        if chunk[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return chunk.decode("utf-16", errors="replace")
        return chunk.decode("utf-8", errors="replace")
    return chunk


def _split_chunks(chunks: Iterable[bytes] | Iterable[str]) -> Iterator[str]:
    """Lines from arbitrary chunks (a streamed body splits lines and UTF-8 sequences anywhere)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        *complete, pending = pending.split("\n")
        yield from complete
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def iter_lines(data: Input) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its line ending); a UTF-8 BOM is dropped."""
    lines = _split_text(_decode(data)) if isinstance(data, bytes | str) else _split_chunks(data)
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.lstrip("\ufeff")
        if line.endswith("\r"):
            line = line.rstrip("\r")
        yield number, line


def _split_text(text: str) -> Iterator[str]:
    """`text.split("\n")`, without a last empty line after a final newline, one line at a
    time (a large upload is not copied into a list of lines first: measured 5x cheaper)."""
    end_of_text = len(text) - 1 if text.endswith("\n") else len(text)
    start = 0
    while True:
        end = text.find("\n", start, end_of_text)
        if end < 0:
            yield text[start:end_of_text]
            return
        yield text[start:end]
        start = end + 1


def read_text(data: Input) -> str:
    """The whole input as one string (for formats that are one document, like a JSON array)."""
    if isinstance(data, bytes | str):
        text = _decode(data)
    else:
        text = "".join(_decode(chunk) for chunk in data)
    return text.lstrip("\ufeff")


def iter_json_records(data: Input, *, page_key: str | None = None,
                      decode: Callable[[str], Any] = fastjson.loads
                      ) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Yield (position, object) from a JSON array, a single object or page, or NDJSON.

    A JSON array (or `{page_key: [...]}` page) numbers records by their 1-based element index;
    NDJSON numbers them by line. Unreadable entries come back as Rejection, never raised; a
    truncated array still yields every complete element before the damage. `decode` turns a
    document or line into Python values as `json.loads` would, raising its JSONDecodeError
    (a parser may pass one that leaves out what it never reads).
    """
    if not isinstance(data, bytes | str):
        yield from _ndjson_records(iter_lines(data), page_key, decode)
        return
    text = read_text(data)
    head = text.lstrip()[:1]
    if head == "[":
        try:
            document = decode(text)
        except json.JSONDecodeError:  # damaged: read it element by element
            yield from _array_records(text)
            return
        yield from _document_records(document, page_key)
        return
    if head == "{" and not _several_lines_of_json(text, decode):
        try:
            document = decode(text)
        except json.JSONDecodeError:
            document = None  # several objects: NDJSON, read line by line
        if document is not None:
            yield from _document_records(document, page_key)
            return
    yield from _ndjson_records(iter_lines(text), page_key, decode)


def _several_lines_of_json(text: str, decode: Callable[[str], Any]) -> bool:
    """True when the first line is a whole JSON value and more follows: then the text is
    NDJSON, not one document, which is found out without decoding the whole of it first
    (that alone cost ~3 µs a line on large NDJSON uploads)."""
    end = text.find("\n")
    if end < 0 or _NON_SPACE.search(text, end) is None:
        return False
    try:
        decode(text[:end])
    except json.JSONDecodeError:
        return False
    return True


def _array_records(text: str) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Decode a JSON array element by element, so damage late in it spares the early ones."""
    decoder = json.JSONDecoder()
    at = text.index("[") + 1
    index = 0
    while True:
        at = _skip_space(text, at)
        if text.startswith("]", at):
            return
        index += 1
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            yield index, Rejection(index, f"element {index}: invalid JSON ({exc.msg} at line "
                                          f"{exc.lineno}); the rest of the array was not read")
            return
        if isinstance(item, dict):
            yield index, item
        else:
            yield index, Rejection(index, f"element {index} is not a JSON object")
        at = _skip_space(text, at)
        if text.startswith(",", at):
            at += 1
        elif not text.startswith("]", at):
            yield index + 1, Rejection(index + 1, f"expected ',' or ']' after element {index}; "
                                                  "the rest of the array was not read")
            return


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _document_records(document: Any, page_key: str | None
                      ) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    if isinstance(document, dict) and page_key is not None and page_key in document:
        document = document[page_key]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        yield 1, Rejection(1, f"expected a JSON array or object, got {type(document).__name__}")
        return
    for index, item in enumerate(document, start=1):
        if isinstance(item, dict):
            yield index, item
        else:
            yield index, Rejection(index, f"element {index} is not a JSON object")


def _ndjson_records(lines: Iterator[tuple[int, str]], page_key: str | None,
                    decode: Callable[[str], Any]
                    ) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            item = decode(line)
        except json.JSONDecodeError as exc:
            yield number, Rejection(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if isinstance(item, dict) and page_key is not None and isinstance(item.get(page_key),
                                                                          list):
            # A page object per line (e.g. saved Graph pages): its records share the line number.
            for element in item[page_key]:
                if isinstance(element, dict):
                    yield number, element
                else:
                    yield number, Rejection(number, f"a {page_key} entry is not a JSON object")
        elif isinstance(item, dict):
            yield number, item
        else:
            yield number, Rejection(number, "line is not a JSON object")
