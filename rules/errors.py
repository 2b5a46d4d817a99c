"""Every exception the rules package raises on purpose.

Two families:

* `BundleError` — a bundle (or a list file it references) is not valid. It carries *all* the
  problems found, each as a `path: reason` string, so an operator can fix them in one go.
* `VerificationError` — a signed bundle was refused. Each reason has its own subclass so the
  agent can react precisely (e.g. keep the current bundle on `RollbackRefused`, alert on
  `SignatureInvalid`).
"""

from __future__ import annotations

from dataclasses import dataclass


class RulesError(Exception):
    """Base class of every error raised by `rules`."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (`path`, and the source line when known) and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class BundleError(RulesError):
    """A bundle failed to parse or validate.

    `errors` is the list of `path: reason` strings (for example
    ``nudges[2].countries[0]: 'XX' is not an ISO 3166-1 alpha-2 code``); `problems` holds the
    same entries as `Problem` objects with the source line where it is known; `source` names the
    file or text that was read.
    """

    def __init__(self, problems: list[Problem], source: str = "<bundle>") -> None:
        self.problems = list(problems)
        self.source = source
        self.errors = [str(p) for p in self.problems]
        super().__init__(self._summary())

    def located(self) -> list[str]:
        """Each problem prefixed with `source:line:` (compiler style) when the line is known."""
        out = []
        for problem in self.problems:
            where = f"{self.source}:{problem.line}" if problem.line else self.source
            out.append(f"{where}: {problem}")
        return out

    def _summary(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        return f"{self.source}: {count} {noun}\n" + "\n".join(f"  {e}" for e in self.errors)


class KeyFormatError(RulesError):
    """A key file is not a usable Ed25519 key in PEM form."""


class VerificationError(RulesError):
    """A signed bundle was refused. Subclasses say exactly why."""


class MalformedEnvelope(VerificationError):
    """The envelope is not valid JSON, lacks fields, has an unknown format/algorithm, or the
    signed bundle inside it does not validate."""


class UnknownKey(VerificationError):
    """The envelope names a key id that is not among the trusted public keys."""


class SignatureInvalid(VerificationError):
    """The signature does not match the bundle: it was altered or signed by another key."""


class RollbackRefused(VerificationError):
    """The bundle's version is not newer than the version already applied."""


class BundleExpired(VerificationError):
    """`now` is at or after the bundle's `expires_at`."""


class BundleNotYetValid(VerificationError):
    """`now` is before the bundle's `issued_at` (beyond the allowed clock skew)."""
