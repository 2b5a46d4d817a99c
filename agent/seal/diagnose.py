"""Name what is wrong when a chunk fails to authenticate: reordered, corrupt, or swapped header.

Detection is already certain at this point (the AES-GCM tag failed); this only picks the most
accurate error for the report, by trying the failed chunk at the other positions and, for
chunk 0, whether any later chunk authenticates under this header at all. The search is bounded
(`WINDOW` positions either side) so a huge damaged file cannot make the diagnosis slow.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.seal.errors import (
    ChunkCorruptError,
    ChunkReorderedError,
    HeaderMismatchError,
    SealIntegrityError,
)
from agent.seal.layout import SealHeader, Source, chunk_nonce, read_exact

WINDOW = 4096


def _opens(aead: AESGCM, index: int, last: bool, ct: bytes, ad: bytes) -> bool:
    try:
        aead.decrypt(chunk_nonce(index, last), ct, ad)
    except InvalidTag:
        return False
    return True


def authentic_position(aead: AESGCM, ad: bytes, header: SealHeader, ct: bytes,
                       near: int) -> int | None:
    """The position (other than `near`) at which `ct` authenticates, searched near `near`."""
    n = header.chunks
    for j in range(max(0, near - WINDOW), min(n, near + WINDOW + 1)):
        if j != near and _opens(aead, j, j == n - 1, ct, ad):
            return j
    return None


def _next_chunk_authentic(aead: AESGCM, ad: bytes, header: SealHeader, src: Source) -> bool:
    if header.chunks < 2:
        return False
    ct = read_exact(src, header.chunk_length(1))
    if len(ct) != header.chunk_length(1):
        return False
    n = header.chunks
    return any(_opens(aead, j, j == n - 1, ct, ad) for j in range(min(n, 2 * WINDOW)))


def chunk_failure(aead: AESGCM, ad: bytes, header: SealHeader, index: int, ct: bytes,
                  src: Source) -> SealIntegrityError:
    """The error to raise for chunk `index` (bytes `ct`) failing; may read ahead in `src`."""
    n = header.chunks
    moved_from = authentic_position(aead, ad, header, ct, index)
    if moved_from is not None:
        return ChunkReorderedError(
            f"chunk {index} of {n} is out of order: it is the authentic chunk {moved_from}",
            position=index, belongs_at=moved_from)
    if index == 0 and not _next_chunk_authentic(aead, ad, header, src):
        return HeaderMismatchError(
            "the header does not belong to this body: it authenticates, but no chunk "
            "authenticates under it (a header swapped in from another sealed file"
            + (", or the only chunk is corrupt)" if n == 1 else ")"))
    return ChunkCorruptError(f"chunk {index} of {n} is corrupt: it does not authenticate "
                             "at any position", position=index)
