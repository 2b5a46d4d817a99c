"""The sealed-file format, version 1: streamed AES-256-GCM in fixed-size chunks (STREAM).

`agent.seal.layout` defines the header, the keys and how the body divides into chunks (and is
re-exported here); this module encrypts and decrypts the chunks. Work is done a block at a time
(as many whole chunks as fit in about 1 MiB, at least one): `ChunkSealer` and `ChunkOpener`
handle a block's chunks in caller-owned `Buffers`, so a file costs a few large reads and writes
and no per-chunk allocation. `seal_stream` and `open_stream` are the reference implementation
of docs/seal-format.md. Memory is bounded by one block whatever the file size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.seal import diagnose
from agent.seal.errors import (
    SealIntegrityError,
    SourceChangedError,
    TrailingDataError,
    TruncatedError,
)
from agent.seal.layout import (  # noqa: F401 - re-exported: the format's public names
    BLOCK_BYTES,
    DEFAULT_CHUNK_SIZE,
    DEVICE_KEY_LEN,
    FORMAT_VERSION,
    HEADER_LEN,
    HKDF_INFO,
    KEY_ID_LABEL,
    KEY_ID_LEN,
    MAGIC,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    SALT_LEN,
    SUITE_AES256GCM_HKDF_SHA256,
    TAG_LEN,
    Block,
    KeyLookup,
    SealHeader,
    Source,
    Writer,
    chunk_count,
    chunk_nonce,
    chunks_per_block,
    derive_file_keys,
    key_id,
    open_header,
    parse_header,
    read_exact,
    readinto_exact,
    sealed_size,
)


class Buffers:
    """Memory reused from block to block and file to file: the plaintext, the sealed bytes (with
    room for the header in front) and, when comparing, a second plaintext."""

    def __init__(self, plain: int, sealed: int, *, compare: bool = False) -> None:
        self.plain, self.sealed = bytearray(plain), bytearray(sealed)
        self.check = bytearray(plain if compare else 0)

    @classmethod
    def for_header(cls, header: SealHeader, *, compare: bool = False) -> Buffers:
        """Just enough for this file's largest (first) block."""
        first = next(header.blocks())
        return cls(first.plain, HEADER_LEN + first.sealed, compare=compare)

    @classmethod
    def for_chunk_size(cls, chunk_size: int, *, compare: bool = False) -> Buffers:
        """Enough for a full block of any file with this chunk size."""
        per = chunks_per_block(chunk_size)
        return cls(per * chunk_size, HEADER_LEN + per * (chunk_size + TAG_LEN), compare=compare)

    def fits(self, header: SealHeader) -> bool:
        """Whether every block of this file fits (the first block is the largest)."""
        first = next(header.blocks())
        return len(self.plain) >= first.plain and len(self.sealed) >= HEADER_LEN + first.sealed


class ChunkSealer:
    """Seals one file: its header, then its chunks in order, a block per call."""

    def __init__(self, device_key: bytes, *, size: int, mtime_ns: int = 0, mode: int = 0o600,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, salt: bytes | None = None) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} outside 1..{MAX_CHUNK_SIZE}")
        salt = os.urandom(SALT_LEN) if salt is None else salt
        payload_key, header_key = derive_file_keys(device_key, salt)
        self.header = SealHeader(chunk_size, size, key_id(device_key), salt, mtime_ns,
                                 mode & 0o7777)
        self.raw_header = self.header.encode(header_key)
        self._aead = AESGCM(payload_key)

    def seal(self, block: Block, plain: memoryview, out: memoryview) -> None:
        """Encrypt the block's plaintext (`block.plain` bytes) into `out` (`block.sealed`)."""
        size, last, ad, encrypt = (self.header.chunk_size, self.header.chunks - 1,
                                   self.raw_header, self._aead.encrypt_into)
        read = written = 0
        for index in range(block.first, block.first + block.count):
            n = min(size, block.plain - read)
            encrypt(chunk_nonce(index, index == last), plain[read:read + n], ad,
                    out[written:written + n + TAG_LEN])
            read, written = read + n, written + n + TAG_LEN


class ChunkOpener:
    """Authenticates and decrypts one sealed file's chunks, a block per call."""

    def __init__(self, header: SealHeader, raw_header: bytes, payload_key: bytes) -> None:
        self.header, self.raw_header = header, raw_header
        self._aead = AESGCM(payload_key)

    @classmethod
    def read(cls, src: Source, keys: KeyLookup) -> ChunkOpener:
        """Read and authenticate the header at the start of `src`."""
        return cls(*open_header(src, keys))

    def open(self, block: Block, sealed: memoryview, out: memoryview, rest: Source) -> None:
        """Decrypt the block's sealed bytes into `out`. A chunk that does not authenticate
        raises the diagnosed SealIntegrityError (`rest`: what follows the block in the file);
        `out` then holds unauthenticated bytes and must be discarded."""
        size, last, ad, decrypt = (self.header.chunk_size, self.header.chunks - 1,
                                   self.raw_header, self._aead.decrypt_into)
        read = written = 0
        for index in range(block.first, block.first + block.count):
            n = min(size, block.plain - written)
            chunk = sealed[read:read + n + TAG_LEN]
            try:
                decrypt(chunk_nonce(index, index == last), chunk, ad, out[written:written + n])
            except InvalidTag:
                raise self._failure(index, chunk, sealed[read + n + TAG_LEN:], rest) from None
            read, written = read + n + TAG_LEN, written + n

    def _failure(self, index: int, chunk: memoryview, after: memoryview,
                 rest: Source) -> SealIntegrityError:
        return diagnose.chunk_failure(self._aead, self.raw_header, self.header, index,
                                      bytes(chunk), _Joined(bytes(after), rest))


class _Joined:
    """`head`, then the rest of `tail`: the bytes after a failed chunk, for its diagnosis."""

    def __init__(self, head: bytes, tail: Source) -> None:
        self.head, self.tail = head, tail

    def read(self, n: int = -1, /) -> bytes:
        if not self.head:
            return self.tail.read(n)
        cut = len(self.head) if n < 0 else n
        part, self.head = self.head[:cut], self.head[cut:]
        return part

    def readinto(self, buffer: memoryview, /) -> int:
        part = self.read(len(buffer))
        buffer[:len(part)] = part
        return len(part)


def sealed_blocks(src: Source, sealer: ChunkSealer,
                  buffers: Buffers) -> Iterator[tuple[memoryview, memoryview]]:
    """Read and encrypt `src` a block at a time: yields (plaintext, sealed bytes to write);
    the first sealed bytes start with the header. The views are reused: use each before the next.

    Raises SourceChangedError if `src` holds fewer or more bytes than the header says.
    """
    plain, sealed = memoryview(buffers.plain), memoryview(buffers.sealed)
    header, start, done = sealer.header, HEADER_LEN, 0
    sealed[:HEADER_LEN] = sealer.raw_header
    for block in header.blocks():
        got = readinto_exact(src, plain[:block.plain])
        if got != block.plain:
            raise SourceChangedError(f"the file shrank while being sealed: {done + got} bytes "
                                     f"instead of {header.size}")
        sealer.seal(block, plain[:got], sealed[start:start + block.sealed])
        yield plain[:got], sealed[:start + block.sealed]
        start, done = 0, done + got
    if src.read(1):
        raise SourceChangedError(f"the file grew while being sealed (more than {header.size} "
                                 "bytes)")


def opened_blocks(src: Source, opener: ChunkOpener, buffers: Buffers) -> Iterator[memoryview]:
    """Read, authenticate and decrypt the chunks after the header, a block at a time: yields
    each block's plaintext (a view of `buffers.plain`, reused: use it before the next).

    Raises the SealIntegrityError naming what is wrong (docs/seal-format.md, "Errors").
    """
    header = opener.header
    sealed, plain = memoryview(buffers.sealed), memoryview(buffers.plain)
    for block in header.blocks():
        view = sealed[:block.sealed]
        got = readinto_exact(src, view)
        if got < block.sealed:
            _truncated(opener, block, view[:got], plain, src)
        opener.open(block, view, plain[:block.plain], src)
        yield plain[:block.plain]
    if src.read(1):
        raise TrailingDataError(f"data follows the final chunk {header.chunks - 1}: the file "
                                "was extended")


def _truncated(opener: ChunkOpener, block: Block, got: memoryview, plain: memoryview,
               rest: Source) -> NoReturn:
    """A block cut short: the whole chunks before the cut are checked first (a damaged chunk
    is the more precise diagnosis, as when reading chunk by chunk), then TruncatedError."""
    header = opener.header
    step = header.chunk_size + TAG_LEN
    whole = len(got) // step
    if whole:
        part = Block(block.first, whole, whole * header.chunk_size, whole * step)
        opener.open(part, got[:part.sealed], plain[:part.plain], rest)
    index = block.first + whole
    raise TruncatedError(f"the file is truncated: chunk {index} of {header.chunks} has "
                         f"{len(got) - whole * step} of {header.chunk_length(index)} bytes")


@dataclass(frozen=True)
class SealResult:
    """What sealing or opening produced: the header, SHA-256 of the plaintext, sealed length."""

    header: SealHeader
    digest: bytes
    sealed_bytes: int


def seal_stream(src: Source, dst: Writer, device_key: bytes, *, size: int,
                mtime_ns: int = 0, mode: int = 0o600, chunk_size: int = DEFAULT_CHUNK_SIZE,
                salt: bytes | None = None) -> SealResult:
    """Encrypt exactly `size` bytes from `src` into `dst`, one block in memory at a time.

    Raises SourceChangedError if `src` holds fewer or more than `size` bytes (the file changed
    while it was being sealed). `salt` is for test vectors only; leave it None.
    """
    sealer = ChunkSealer(device_key, size=size, mtime_ns=mtime_ns, mode=mode,
                         chunk_size=chunk_size, salt=salt)
    digest = hashlib.sha256()
    for plain, sealed in sealed_blocks(src, sealer, Buffers.for_header(sealer.header)):
        digest.update(plain)
        dst.write(sealed)
    return SealResult(sealer.header, digest.digest(), sealed_size(size, chunk_size))


def open_stream(src: Source, keys: KeyLookup, dst: Writer | None = None) -> SealResult:
    """Authenticate and decrypt a sealed stream into `dst` (or only verify it when None).

    Raises a SealError subclass naming what is wrong. On error `dst` may already hold the
    authentic plaintext of the blocks before the bad one: write into a temporary file.
    """
    opener = ChunkOpener.read(src, keys)
    header, digest = opener.header, hashlib.sha256()
    for plain in opened_blocks(src, opener, Buffers.for_header(header)):
        digest.update(plain)
        if dst is not None:
            dst.write(plain)
    return SealResult(header, digest.digest(), sealed_size(header.size, header.chunk_size))
