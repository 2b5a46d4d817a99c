"""The sealed-file layout, version 1: constants, keys, the 120-byte header, chunks and blocks.

A sealed file is a 120-byte header followed by N chunks. The per-file keys come from HKDF-SHA256
over the device key and a random 32-byte salt; chunk i is AES-256-GCM under the payload key with
nonce = i as 11 big-endian bytes || last-chunk flag, and the whole header as associated data.
The header carries its own HMAC so a damaged header is told apart from a damaged body.
docs/seal-format.md specifies every byte. This module holds the arithmetic and the header;
`agent.seal.format` encrypts and decrypts the chunks (and re-exports these names).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.seal.errors import (
    HeaderCorruptError,
    NotSealedError,
    TruncatedError,
    UnsupportedVersionError,
    WrongKeyError,
)

MAGIC = b"HEEDSEAL"
FORMAT_VERSION = 1
SUITE_AES256GCM_HKDF_SHA256 = 1
HEADER_LEN = 120
TAG_LEN = 16
SALT_LEN = 32
KEY_ID_LEN = 16
DEVICE_KEY_LEN = 32
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024  # bounds the memory a hostile header can make us allocate
MAX_CHUNKS = 1 << 88  # the 11-byte counter
BLOCK_BYTES = 1 << 20  # read, encrypted and written per call: few system calls, little memory
HKDF_INFO = b"heedful-seal v1"
KEY_ID_LABEL = b"heedful-seal key id v1"
_FIELDS = struct.Struct(">8sBBHIQ16s32sqI4s")  # 88 bytes, then a 32-byte HMAC-SHA256


class Writer(Protocol):
    """Where plaintext or ciphertext goes: anything with `write(bytes)`."""

    def write(self, data: bytes | memoryview, /) -> object: ...


class Source(Protocol):
    """Where bytes come from: an unbuffered or buffered binary file."""

    def read(self, n: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


KeyLookup = bytes | Mapping[bytes, bytes]
"""One device key, or a mapping key id -> key (several devices, or old keys)."""


def key_id(device_key: bytes) -> bytes:
    """The 16-byte public identifier of a device key: HMAC-SHA256(key, label)[:16]."""
    return hmac.new(device_key, KEY_ID_LABEL, hashlib.sha256).digest()[:KEY_ID_LEN]


def derive_file_keys(device_key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(payload key, header key): HKDF-SHA256(device key, salt, "heedful-seal v1"), 64 bytes."""
    if len(device_key) != DEVICE_KEY_LEN:
        raise ValueError(f"a device key is {DEVICE_KEY_LEN} bytes, got {len(device_key)}")
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=HKDF_INFO).derive(device_key)
    return okm[:32], okm[32:]


def chunk_count(size: int, chunk_size: int) -> int:
    """Chunks for `size` plaintext bytes: at least one (an empty file has one empty chunk)."""
    return max(1, -(-size // chunk_size))


def sealed_size(size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Exact length of the sealed form of a `size`-byte plaintext."""
    return HEADER_LEN + size + TAG_LEN * chunk_count(size, chunk_size)


def chunks_per_block(chunk_size: int) -> int:
    """Whole chunks handled per read and write: as many as fit sealed in BLOCK_BYTES, at least 1."""
    return max(1, BLOCK_BYTES // (chunk_size + TAG_LEN))


def chunk_nonce(index: int, last: bool) -> bytes:
    """The 12-byte nonce of chunk `index`: 11-byte big-endian counter || 0x01 if last else 0x00."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class Block:
    """A run of consecutive chunks read, encrypted or decrypted, and written in one go."""

    first: int  # index of its first chunk
    count: int  # chunks in it
    plain: int  # plaintext bytes
    sealed: int  # sealed bytes: plaintext plus one tag per chunk


@dataclass(frozen=True)
class SealHeader:
    """The decoded header fields (see docs/seal-format.md, "Header")."""

    chunk_size: int
    size: int
    key_id: bytes
    salt: bytes
    mtime_ns: int = 0
    mode: int = 0o600
    version: int = FORMAT_VERSION
    suite: int = SUITE_AES256GCM_HKDF_SHA256

    @property
    def chunks(self) -> int:
        """Number of chunks the body holds."""
        return chunk_count(self.size, self.chunk_size)

    def chunk_length(self, index: int) -> int:
        """Ciphertext length of chunk `index` (plaintext bytes + 16-byte tag)."""
        if index < self.chunks - 1:
            return self.chunk_size + TAG_LEN
        return self.size - (self.chunks - 1) * self.chunk_size + TAG_LEN

    def blocks(self) -> Iterator[Block]:
        """The body as runs of `chunks_per_block` chunks, in order (the last run may be shorter)."""
        per, n, size = chunks_per_block(self.chunk_size), self.chunks, self.chunk_size
        for first in range(0, n, per):
            count = min(per, n - first)
            plain = min(self.size, (first + count) * size) - first * size
            yield Block(first, count, plain, plain + TAG_LEN * count)

    def fields(self) -> bytes:
        """The first 88 header bytes, the part the header HMAC covers."""
        return _FIELDS.pack(MAGIC, self.version, self.suite, HEADER_LEN, self.chunk_size,
                            self.size, self.key_id, self.salt, self.mtime_ns, self.mode,
                            b"\0\0\0\0")

    def encode(self, header_key: bytes) -> bytes:
        """The full 120-byte header: fields || HMAC-SHA256(header key, fields)."""
        fields = self.fields()
        return fields + hmac.new(header_key, fields, hashlib.sha256).digest()


def parse_header(raw: bytes) -> SealHeader:
    """Decode and sanity-check a 120-byte header. The HMAC is checked later, with the key."""
    if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
        raise NotSealedError("not a sealed file: the magic bytes 'HEEDSEAL' are missing")
    if len(raw) < HEADER_LEN:
        raise TruncatedError(f"the file ends inside its header ({len(raw)} of {HEADER_LEN} bytes)")
    (_, version, suite, header_len, chunk_size, size, kid, salt, mtime_ns, mode,
     reserved) = _FIELDS.unpack(raw[: _FIELDS.size])
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(f"sealed-file format version {version} is not supported "
                                      f"(this agent reads version {FORMAT_VERSION})")
    if suite != SUITE_AES256GCM_HKDF_SHA256:
        raise UnsupportedVersionError(f"cipher suite {suite} is not supported")
    problem = _field_problem(header_len, chunk_size, size, reserved)
    if problem:
        raise HeaderCorruptError(f"the header is damaged: {problem}")
    return SealHeader(chunk_size, size, kid, salt, mtime_ns, mode, version, suite)


def _field_problem(header_len: int, chunk_size: int, size: int, reserved: bytes) -> str:
    if header_len != HEADER_LEN:
        return f"header length {header_len}, expected {HEADER_LEN}"
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        return f"chunk size {chunk_size} outside 1..{MAX_CHUNK_SIZE}"
    if chunk_count(size, chunk_size) >= MAX_CHUNKS:
        return f"original size {size} needs more chunks than the counter allows"
    if reserved != b"\0\0\0\0":
        return "reserved bytes are not zero"
    return ""


def read_exact(src: Source, n: int) -> bytes:
    """Read `n` bytes, fewer only at end of file (short reads from pipes are retried)."""
    parts, got = [], 0
    while got < n:
        part = src.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def readinto_exact(src: Source, view: memoryview) -> int:
    """Fill `view` from `src`; returns the bytes read, fewer only at end of file."""
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _select_key(header: SealHeader, keys: KeyLookup) -> bytes:
    if isinstance(keys, bytes | bytearray):
        keys = {key_id(bytes(keys)): bytes(keys)}
    key = keys.get(header.key_id)
    if key is None:
        have = ", ".join(k.hex() for k in keys) or "none"
        raise WrongKeyError(f"sealed with key id {header.key_id.hex()}, which is not available "
                            f"(key ids held: {have})")
    return key


def open_header(src: Source, keys: KeyLookup) -> tuple[SealHeader, bytes, bytes]:
    """Read and authenticate the header: (header, raw 120 bytes, payload key)."""
    raw = read_exact(src, HEADER_LEN)
    header = parse_header(raw)
    payload_key, header_key = derive_file_keys(_select_key(header, keys), header.salt)
    expected = hmac.new(header_key, raw[: _FIELDS.size], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, raw[_FIELDS.size:]):
        raise HeaderCorruptError("the header does not authenticate: it was modified or damaged")
    return header, raw, payload_key
