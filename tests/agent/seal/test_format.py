"""The sealed-file format: round trips at every size boundary and each tampering case."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import pytest

from agent.seal import errors
from agent.seal.format import (
    BLOCK_BYTES,
    HEADER_LEN,
    TAG_LEN,
    chunk_nonce,
    chunks_per_block,
    key_id,
    open_stream,
    parse_header,
    seal_stream,
    sealed_size,
)

KEY = bytes(range(32))
CHUNK = 64 * 1024
REPO = Path(__file__).resolve().parents[3]


def seal_bytes(data: bytes, key: bytes = KEY, chunk_size: int = CHUNK) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, key, size=len(data), chunk_size=chunk_size)
    return out.getvalue()


def opened(blob: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    open_stream(io.BytesIO(blob), key, out)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5_000_001])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    blob = seal_bytes(data)
    assert len(blob) == sealed_size(size) == HEADER_LEN + size + TAG_LEN * max(1, -(-size // CHUNK))
    assert size < 16 or data[:16] not in blob
    assert opened(blob) == data


def test_result_carries_digest_and_metadata() -> None:
    data = b"quarterly numbers"
    out = io.BytesIO()
    result = seal_stream(io.BytesIO(data), out, KEY, size=len(data), mtime_ns=1_700_000_000_123,
                         mode=0o100640)
    assert result.digest == hashlib.sha256(data).digest()
    back = open_stream(io.BytesIO(out.getvalue()), KEY)
    assert back.digest == result.digest
    assert (back.header.mtime_ns, back.header.mode) == (1_700_000_000_123, 0o640)
    assert back.header.key_id == key_id(KEY)


def test_same_plaintext_seals_differently_each_time() -> None:
    assert seal_bytes(b"same") != seal_bytes(b"same")


def test_nonce_layout() -> None:
    assert chunk_nonce(0, False) == bytes(12)
    assert chunk_nonce(1, True) == bytes(10) + b"\x01\x01"
    assert chunk_nonce(258, False) == bytes(9) + b"\x01\x02\x00"


def test_source_that_shrinks_or_grows_is_refused() -> None:
    with pytest.raises(errors.SourceChangedError, match="shrank"):
        seal_stream(io.BytesIO(b"abc"), io.BytesIO(), KEY, size=10)
    with pytest.raises(errors.SourceChangedError, match="grew"):
        seal_stream(io.BytesIO(b"abcdef"), io.BytesIO(), KEY, size=3)


def test_memory_stays_bounded_by_one_block() -> None:
    """The writer receives one block (whole chunks, about 1 MiB) at a time, never the whole
    file; the header travels with the first block."""
    sizes = []

    class Recorder:
        def write(self, data: bytes) -> int:
            sizes.append(len(data))
            return len(data)

    per = chunks_per_block(CHUNK)
    seal_stream(io.BytesIO(bytes(40 * CHUNK)), Recorder(), KEY, size=40 * CHUNK)
    assert per * (CHUNK + TAG_LEN) <= BLOCK_BYTES
    assert sizes[0] == HEADER_LEN + per * (CHUNK + TAG_LEN)
    assert sizes[1:] == [per * (CHUNK + TAG_LEN)] * (len(sizes) - 2) + [sizes[-1]]
    assert len(sizes) == -(-40 // per) and sum(sizes) == sealed_size(40 * CHUNK)


# -- tampering ---------------------------------------------------------------------------------
SMALL = 100  # a small chunk size makes multi-chunk files cheap to tamper with


def small_blob(data: bytes = b"0123456789" * 50) -> bytes:
    return seal_bytes(data, chunk_size=SMALL)


def chunk_bounds(i: int) -> tuple[int, int]:
    start = HEADER_LEN + i * (SMALL + TAG_LEN)
    return start, start + SMALL + TAG_LEN


def test_not_sealed() -> None:
    with pytest.raises(errors.NotSealedError):
        opened(b"%PDF-1.7 plain document")


def test_truncated_in_header_body_and_at_chunk_boundary() -> None:
    blob = small_blob()
    for cut in (HEADER_LEN - 1, HEADER_LEN + 50, chunk_bounds(2)[0], len(blob) - 1):
        with pytest.raises(errors.TruncatedError):
            opened(blob[:cut])


def test_extended() -> None:
    with pytest.raises(errors.TrailingDataError):
        opened(small_blob() + b"\0")


def test_reordered_chunks() -> None:
    blob = small_blob()
    a, b = chunk_bounds(1), chunk_bounds(2)
    swapped = blob[: a[0]] + blob[b[0]: b[1]] + blob[a[0]: a[1]] + blob[b[1]:]
    with pytest.raises(errors.ChunkReorderedError) as caught:
        opened(swapped)
    assert (caught.value.position, caught.value.belongs_at) == (1, 2)


def test_dropped_middle_chunk_is_reported_as_reordering() -> None:
    blob = small_blob()
    start, end = chunk_bounds(1)
    with pytest.raises(errors.ChunkReorderedError) as caught:
        opened(blob[:start] + blob[end:])
    assert caught.value.belongs_at == 2


def test_flipped_bit_in_a_chunk() -> None:
    blob = bytearray(small_blob())
    blob[chunk_bounds(3)[0] + 7] ^= 1
    with pytest.raises(errors.ChunkCorruptError) as caught:
        opened(bytes(blob))
    assert caught.value.position == 3


def test_flipped_bit_in_first_chunk_of_a_long_file() -> None:
    blob = bytearray(small_blob())
    blob[HEADER_LEN + 3] ^= 0x80
    with pytest.raises(errors.ChunkCorruptError) as caught:
        opened(bytes(blob))
    assert caught.value.position == 0


@pytest.mark.parametrize("length", [5, 500])
def test_swapped_header_from_another_file(length: int) -> None:
    mine, theirs = small_blob(os.urandom(length)), small_blob(os.urandom(length))
    with pytest.raises(errors.HeaderMismatchError):
        opened(theirs[:HEADER_LEN] + mine[HEADER_LEN:])


# Chunks big enough that a block holds three of them: damage in later blocks and across a block
# boundary is named as precisely as within the first block.
BIG = 300_000


def big_bounds(i: int) -> tuple[int, int]:
    start = HEADER_LEN + i * (BIG + TAG_LEN)
    return start, start + BIG + TAG_LEN


@pytest.fixture(scope="module")
def big_blob() -> tuple[bytes, bytes]:
    data = os.urandom(10 * BIG - 123)  # 10 chunks, 4 blocks, a short last chunk
    assert chunks_per_block(BIG) == 3
    return data, seal_bytes(data, chunk_size=BIG)


def test_multi_block_round_trip(big_blob) -> None:
    data, blob = big_blob
    assert opened(blob) == data


@pytest.mark.parametrize("chunk", [3, 4, 8, 9])
def test_flipped_bit_in_a_later_block(big_blob, chunk: int) -> None:
    edited = bytearray(big_blob[1])
    edited[big_bounds(chunk)[0] + 1000] ^= 4
    with pytest.raises(errors.ChunkCorruptError) as caught:
        opened(bytes(edited))
    assert caught.value.position == chunk


def test_chunks_swapped_across_a_block_boundary(big_blob) -> None:
    blob = big_blob[1]
    a, b = big_bounds(2), big_bounds(3)
    swapped = blob[: a[0]] + blob[b[0]: b[1]] + blob[a[0]: a[1]] + blob[b[1]:]
    with pytest.raises(errors.ChunkReorderedError) as caught:
        opened(swapped)
    assert (caught.value.position, caught.value.belongs_at) == (2, 3)


@pytest.mark.parametrize("cut", [big_bounds(3)[0], big_bounds(4)[0] + 5, big_bounds(9)[0] + 1,
                                 big_bounds(6)[0] - 1])
def test_truncated_in_a_later_block(big_blob, cut: int) -> None:
    with pytest.raises(errors.TruncatedError, match="truncated: chunk"):
        opened(big_blob[1][:cut])


def test_damage_before_a_cut_is_named_first(big_blob) -> None:
    """As when reading chunk by chunk: a corrupt chunk before the truncation is the diagnosis."""
    edited = bytearray(big_blob[1][: big_bounds(5)[0] + 7])
    edited[big_bounds(4)[0]] ^= 1
    with pytest.raises(errors.ChunkCorruptError) as caught:
        opened(bytes(edited))
    assert caught.value.position == 4


def test_extended_after_many_blocks(big_blob) -> None:
    with pytest.raises(errors.TrailingDataError):
        opened(big_blob[1] + b"x")


@pytest.mark.parametrize("offset", [15, 23, 40, 72, 80])  # chunk size, size, salt, mtime, mode
def test_header_field_edits_are_caught_by_the_header_tag(offset: int) -> None:
    edited = bytearray(small_blob())
    edited[offset] ^= 1
    with pytest.raises(errors.HeaderCorruptError, match="does not authenticate"):
        opened(bytes(edited))


def test_key_id_edit_is_a_wrong_key() -> None:
    edited = bytearray(small_blob())
    edited[30] ^= 1
    with pytest.raises(errors.WrongKeyError):
        opened(bytes(edited))


def test_tag_edit_is_header_corruption() -> None:
    blob = bytearray(small_blob())
    blob[HEADER_LEN - 1] ^= 1
    with pytest.raises(errors.HeaderCorruptError, match="does not authenticate"):
        opened(bytes(blob))


def test_wrong_key() -> None:
    with pytest.raises(errors.WrongKeyError, match=key_id(KEY).hex()):
        opened(small_blob(), os.urandom(32))


def test_key_lookup_by_id() -> None:
    other = os.urandom(32)
    assert opened(small_blob(), {key_id(other): other, key_id(KEY): KEY}) == b"0123456789" * 50


def test_unsupported_version_and_reserved_bytes() -> None:
    blob = bytearray(small_blob())
    blob[8] = 2
    with pytest.raises(errors.UnsupportedVersionError):
        opened(bytes(blob))
    blob = bytearray(small_blob())
    blob[85] = 1
    with pytest.raises(errors.HeaderCorruptError, match="reserved"):
        parse_header(bytes(blob))


def test_hostile_chunk_size_is_refused_before_allocation() -> None:
    blob = bytearray(small_blob())
    blob[12:16] = (1 << 30).to_bytes(4, "big")
    with pytest.raises(errors.HeaderCorruptError, match="chunk size"):
        parse_header(bytes(blob))


def test_every_error_has_a_distinct_kind() -> None:
    kinds = [cls.kind for cls in (
        errors.NotSealedError, errors.UnsupportedVersionError, errors.HeaderCorruptError,
        errors.WrongKeyError, errors.TruncatedError, errors.TrailingDataError,
        errors.ChunkReorderedError, errors.ChunkCorruptError, errors.HeaderMismatchError,
        errors.SourceChangedError)]
    assert len(set(kinds)) == len(kinds)


def test_documented_test_vector_matches_the_code() -> None:
    """docs/seal-format.md's worked example is reproduced byte for byte."""
    doc = (REPO / "docs" / "seal-format.md").read_text()
    section = doc.split("## Test vector", 1)[1]
    sealed_hex = "".join(re.search(r"```text\nsealed file[^\n]*\n(.*?)```", section,
                                   re.S).group(1).split())
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"Heedful test vector: seal me, please.\n"), out, bytes(range(32)),
                size=38, mtime_ns=1_700_000_000_000_000_000, mode=0o644, chunk_size=16,
                salt=bytes(range(100, 132)))
    assert out.getvalue().hex() == sealed_hex
    assert opened(bytes.fromhex(sealed_hex), bytes(range(32))).startswith(b"Heedful")
    assert independent_open(bytes.fromhex(sealed_hex), bytes(range(32))) == \
        b"Heedful test vector: seal me, please.\n"


def independent_open(blob: bytes, key: bytes) -> bytes:
    """A decryptor written from docs/seal-format.md alone (no agent.seal.format code)."""
    import hmac as hmac_mod
    import struct

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    header = blob[:120]
    magic, version, suite, hlen, chunk, size = struct.unpack(">8sBBHIQ", header[:24])
    assert (magic, version, suite, hlen) == (b"HEEDSEAL", 1, 1, 120)
    kid = hmac_mod.new(key, b"heedful-seal key id v1", hashlib.sha256).digest()[:16]
    assert header[24:40] == kid
    okm = HKDF(hashes.SHA256(), 64, header[40:72], b"heedful-seal v1").derive(key)
    assert hmac_mod.compare_digest(
        hmac_mod.new(okm[32:], header[:88], hashlib.sha256).digest(), header[88:])
    n, pos, out = max(1, -(-size // chunk)), 120, b""
    for i in range(n):
        length = (chunk if i < n - 1 else size - (n - 1) * chunk) + 16
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00")
        out += AESGCM(okm[:32]).decrypt(nonce, blob[pos:pos + length], header)
        pos += length
    assert pos == len(blob)
    return out


@pytest.mark.parametrize("size", [0, 5, 16, 17, 1000])
def test_the_specification_is_enough_for_an_independent_decryptor(size: int) -> None:
    data = os.urandom(size)
    assert independent_open(seal_bytes(data, chunk_size=16), KEY) == data
