"""The sealed-file format, version 1: streamed AES-256-GCM in fixed-size chunks (STREAM).

A sealed file is a 120-byte header followed by N chunks. The per-file keys come from HKDF-SHA256
over the device key and a random 32-byte salt; chunk i is AES-256-GCM under the payload key with
nonce = i as 11 big-endian bytes || last-chunk flag, and the whole header as associated data.
The header carries its own HMAC so a damaged header is told apart from a damaged body.
docs/seal-format.md specifies every byte; this module is the reference implementation.

Memory is bounded by one chunk whatever the file size: nothing here reads a whole file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.seal.errors import (
    HeaderCorruptError,
    NotSealedError,
    SourceChangedError,
    TrailingDataError,
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
HKDF_INFO = b"heedful-seal v1"
KEY_ID_LABEL = b"heedful-seal key id v1"
_FIELDS = struct.Struct(">8sBBHIQ16s32sqI4s")  # 88 bytes, then a 32-byte HMAC-SHA256


class Writer(Protocol):
    """Where plaintext or ciphertext goes: anything with `write(bytes)`."""

    def write(self, data: bytes, /) -> object: ...


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


def chunk_nonce(index: int, last: bool) -> bytes:
    """The 12-byte nonce of chunk `index`: 11-byte big-endian counter || 0x01 if last else 0x00."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


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


def _readinto_exact(src: Source, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


@dataclass(frozen=True)
class SealResult:
    """What sealing or opening produced: the header, SHA-256 of the plaintext, sealed length."""

    header: SealHeader
    digest: bytes
    sealed_bytes: int


def seal_stream(src: Source, dst: Writer, device_key: bytes, *, size: int,
                mtime_ns: int = 0, mode: int = 0o600, chunk_size: int = DEFAULT_CHUNK_SIZE,
                salt: bytes | None = None) -> SealResult:
    """Encrypt exactly `size` bytes from `src` into `dst`, one chunk in memory at a time.

    Raises SourceChangedError if `src` holds fewer or more than `size` bytes (the file changed
    while it was being sealed). `salt` is for test vectors only; leave it None.
    """
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {chunk_size} outside 1..{MAX_CHUNK_SIZE}")
    salt = os.urandom(SALT_LEN) if salt is None else salt
    payload_key, header_key = derive_file_keys(device_key, salt)
    header = SealHeader(chunk_size, size, key_id(device_key), salt, mtime_ns, mode & 0o7777)
    raw_header = header.encode(header_key)
    dst.write(raw_header)
    aead, digest = AESGCM(payload_key), hashlib.sha256()
    view = memoryview(bytearray(chunk_size))
    remaining, n = size, header.chunks
    for index in range(n):
        want = min(chunk_size, remaining)
        got = _readinto_exact(src, view[:want])
        if got != want:
            raise SourceChangedError(f"the file shrank while being sealed: {size - remaining + got}"
                                     f" bytes instead of {size}")
        digest.update(view[:got])
        dst.write(aead.encrypt(chunk_nonce(index, index == n - 1), view[:got], raw_header))
        remaining -= got
    if src.read(1):
        raise SourceChangedError(f"the file grew while being sealed (more than {size} bytes)")
    return SealResult(header, digest.digest(), sealed_size(size, chunk_size))


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


def open_stream(src: Source, keys: KeyLookup, dst: Writer | None = None) -> SealResult:
    """Authenticate and decrypt a sealed stream into `dst` (or only verify it when None).

    Raises a SealError subclass naming what is wrong. On error `dst` may already hold the
    authentic plaintext of the chunks before the bad one: write into a temporary file.
    """
    header, raw, payload_key = open_header(src, keys)
    aead, digest, n = AESGCM(payload_key), hashlib.sha256(), header.chunks
    for index in range(n):
        want = header.chunk_length(index)
        ct = read_exact(src, want)
        if len(ct) != want:
            raise TruncatedError(f"the file is truncated: chunk {index} of {n} has {len(ct)} of "
                                 f"{want} bytes")
        try:
            plain = aead.decrypt(chunk_nonce(index, index == n - 1), ct, raw)
        except InvalidTag:
            from agent.seal import diagnose  # the rare path; diagnose imports this module

            raise diagnose.chunk_failure(aead, raw, header, index, ct, src) from None
        digest.update(plain)
        if dst is not None:
            dst.write(plain)
    if src.read(1):
        raise TrailingDataError(f"data follows the final chunk {n - 1}: the file was extended")
    return SealResult(header, digest.digest(), sealed_size(header.size, header.chunk_size))
