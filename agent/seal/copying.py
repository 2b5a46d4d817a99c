"""Make the new copy of a file and check it end to end, a block of chunks at a time.

Sealing writes the sealed form of a plaintext; unsealing writes the plaintext of a sealed form.
Each new copy is then read back through the descriptor that wrote it (after fsync) and compared
byte for byte with its source, read again from the start:

* a sealed copy is decrypted block by block (every chunk's AES-GCM tag authenticates it, and
  its header must be the one written) and compared with the plaintext file;
* a restored plaintext is compared with the sealed file decrypted a second time.

This needs no digest: a comparison (memcmp) is an order of magnitude cheaper than SHA-256, and
comparing with the file itself, rather than with a digest of what was read, also catches a
plaintext misread before it was encrypted. Any difference raises VerificationError. All reads
and writes go through the handles the engine opened with its `FileOps`; the buffers are reused.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from agent.seal.errors import SealError, VerificationError
from agent.seal.fileops import Writer
from agent.seal.format import (
    HEADER_LEN,
    Buffers,
    ChunkOpener,
    ChunkSealer,
    KeyLookup,
    SealHeader,
    Source,
    opened_blocks,
    read_exact,
    readinto_exact,
    sealed_blocks,
)

BuffersFor = Callable[[SealHeader], Buffers]


def write_sealed(src: Source, out: Writer, sealer: ChunkSealer, buffers: Buffers) -> None:
    """Encrypt all of `src` into `out` (SourceChangedError if its size is not the header's)."""
    for _plain, sealed in sealed_blocks(src, sealer, buffers):
        out.write(sealed)


def check_sealed(src: io.FileIO, out: Writer, sealer: ChunkSealer, keys: KeyLookup,
                 buffers: Buffers) -> None:
    """Decrypt what `out` holds, as any reader would (key by key id, header tag, every chunk's
    tag), and compare it with `src` read again from its start."""
    copy = _read_back(out)
    src.seek(0)
    try:
        opener = ChunkOpener.read(copy, keys)
        if opener.raw_header != sealer.raw_header:
            raise VerificationError("the sealed copy's header is not the one written")
        for plain in opened_blocks(copy, opener, buffers):
            _compare(plain, src, buffers, "the sealed copy does not decrypt to the file")
    except VerificationError:
        raise
    except SealError as exc:
        raise VerificationError(f"the sealed copy does not read back: {exc}") from exc
    if src.read(1):
        raise VerificationError("the file holds more than was sealed")


def write_plain(src: Source, out: Writer, keys: KeyLookup,
                buffers_for: BuffersFor) -> ChunkOpener:
    """Authenticate and decrypt the sealed `src` into `out`; returns its opener (the header)."""
    opener = ChunkOpener.read(src, keys)
    for plain in opened_blocks(src, opener, buffers_for(opener.header)):
        out.write(plain)
    return opener


def check_plain(src: io.FileIO, out: Writer, opener: ChunkOpener, buffers: Buffers) -> None:
    """Decrypt the sealed `src` again from its start and compare it with what `out` holds,
    read back through its own descriptor (the restored mode may forbid opening it again)."""
    copy = _read_back(out)
    src.seek(0)
    try:
        if read_exact(src, HEADER_LEN) != opener.raw_header:
            raise VerificationError("the sealed file changed while it was being unsealed")
        for plain in opened_blocks(src, opener, buffers):
            _compare(plain, copy, buffers, "the restored copy does not read back as decrypted")
    except VerificationError:
        raise
    except SealError as exc:
        raise VerificationError(f"the sealed file no longer decrypts: {exc}") from exc
    if copy.read(1):
        raise VerificationError("the restored copy is longer than the sealed file's plaintext")


def _read_back(out: Writer) -> io.FileIO:
    """A reader over what `out` wrote, from the start, through the same descriptor."""
    reader = io.FileIO(out.fd, "rb", closefd=False)
    reader.seek(0)
    return reader


def _compare(plain: memoryview, other: Source, buffers: Buffers, problem: str) -> None:
    """`plain` (the start of `buffers.plain`) against the next len(plain) bytes of `other`."""
    n = len(plain)
    check = memoryview(buffers.check)[:n]
    if readinto_exact(other, check) != n:
        raise VerificationError(problem + " (it is shorter)")
    if not buffers.plain.startswith(check):  # memcmp in place: no copies, unlike slicing
        raise VerificationError(problem)
