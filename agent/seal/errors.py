"""Every way opening or making a sealed file can fail, each with its own class.

The classes are diagnoses for people and reports; for security they all mean the same thing:
the bytes were not written by this format with this key and must not be trusted. Detection is
certain (every chunk carries an AES-GCM tag over the header); which class is raised when the
evidence is ambiguous is explained in docs/seal-format.md, "Errors".
"""

from __future__ import annotations


class SealError(Exception):
    """Base of every sealed-file error."""

    kind = "seal_error"  # stable short name, used in events and `seal-status`


class NotSealedError(SealError):
    """The file does not start with the sealed-file magic (it is not a sealed file)."""

    kind = "not_sealed"


class UnsupportedVersionError(SealError):
    """A sealed file of a format version or cipher suite this agent does not know."""

    kind = "unsupported_version"


class HeaderCorruptError(SealError):
    """The header is damaged: an impossible field, or its authentication tag does not match."""

    kind = "header_corrupt"


class WrongKeyError(SealError):
    """The file was sealed with a key this device (or recovery key) does not hold."""

    kind = "wrong_key"


class SealIntegrityError(SealError):
    """Base of the body-tampering errors: the header is fine, the chunks are not."""

    kind = "integrity"


class TruncatedError(SealIntegrityError):
    """The file ends before the last chunk the header announces."""

    kind = "truncated"


class TrailingDataError(SealIntegrityError):
    """Bytes follow the final chunk: the file was extended."""

    kind = "extended"


class ChunkReorderedError(SealIntegrityError):
    """A chunk is authentic but sits at the wrong position (chunks were moved or swapped)."""

    kind = "reordered"

    def __init__(self, message: str, *, position: int, belongs_at: int) -> None:
        super().__init__(message)
        self.position, self.belongs_at = position, belongs_at


class ChunkCorruptError(SealIntegrityError):
    """A chunk does not authenticate at any position: its bytes were changed."""

    kind = "chunk_corrupt"

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


class HeaderMismatchError(SealIntegrityError):
    """A valid header sits on a body that was not sealed with it (header swapped in)."""

    kind = "header_mismatch"


class SourceChangedError(SealError):
    """The plaintext changed size or content while it was being sealed; it is retried later."""

    kind = "source_changed"


class VerificationError(SealError):
    """A new copy does not read back as what it was made from: the disk or memory misbehaved.

    Raised when a sealed copy does not decrypt to the plaintext file byte for byte, or a
    restored plaintext does not read back as the sealed file decrypts; the copy is discarded.
    """

    kind = "verification_failed"


class SealBusyError(SealError):
    """Another process holds the seal lock for longer than we were willing to wait."""

    kind = "seal_busy"
