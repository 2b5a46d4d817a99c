"""Property tests: any plaintext round-trips; any change to a sealed file is refused."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.seal.errors import SealError
from agent.seal.format import open_stream, seal_stream, sealed_size

KEY = bytes(range(32))
payloads = st.binary(max_size=3000)
chunk_sizes = st.integers(min_value=1, max_value=400)


def seal(data: bytes, chunk_size: int) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, KEY, size=len(data), chunk_size=chunk_size)
    return out.getvalue()


def refused(blob: bytes) -> bool:
    try:
        open_stream(io.BytesIO(blob), KEY, io.BytesIO())
    except SealError:
        return True
    return False


@settings(max_examples=150, deadline=None)
@given(payloads, chunk_sizes)
def test_round_trip(data: bytes, chunk_size: int) -> None:
    blob = seal(data, chunk_size)
    assert len(blob) == sealed_size(len(data), chunk_size)
    out = io.BytesIO()
    open_stream(io.BytesIO(blob), KEY, out)
    assert out.getvalue() == data


@settings(max_examples=150, deadline=None)
@given(payloads, chunk_sizes, st.data())
def test_any_bit_flip_is_refused(data: bytes, chunk_size: int, draw: st.DataObject) -> None:
    blob = bytearray(seal(data, chunk_size))
    position = draw.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= 1 << draw.draw(st.integers(0, 7))
    assert refused(bytes(blob))


@settings(max_examples=150, deadline=None)
@given(payloads, chunk_sizes, st.data())
def test_any_cut_or_splice_is_refused(data: bytes, chunk_size: int, draw: st.DataObject) -> None:
    blob = seal(data, chunk_size)
    start = draw.draw(st.integers(0, len(blob) - 1))
    end = draw.draw(st.integers(start + 1, len(blob)))
    assert refused(blob[:start] + blob[end:])


@settings(max_examples=100, deadline=None)
@given(payloads, chunk_sizes, st.binary(min_size=1, max_size=200))
def test_any_extension_is_refused(data: bytes, chunk_size: int, extra: bytes) -> None:
    assert refused(seal(data, chunk_size) + extra)
