"""Publishing rule bundles: validate, stamp with the next version and the time, sign with the
server's key, store, audit. Agents then fetch the envelope from GET /api/v1/rules/current.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from rules.errors import BundleError
from rules.loader import parse_bundle, validate_bundle
from rules.model import Bundle
from rules.signing import envelope_bytes, sign_bundle
from server.services import audit
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.errors import BundleInvalid, RulesNotPublished
from server.services.signing_keys import SigningKey
from server.storage import rulesets


@dataclass(frozen=True)
class Published:
    """A published bundle version."""

    version: int
    publisher: str
    published_at: datetime
    key_id: str
    sha256: str


def bundle_from_text(text: str, *, source: str = "console") -> Bundle:
    """Parse YAML/JSON bundle text; BundleInvalid lists every problem as `path: reason`."""
    try:
        return parse_bundle(text, source=source)
    except BundleError as exc:
        raise _invalid(exc) from None


def _invalid(exc: BundleError) -> BundleInvalid:
    fields = [{"path": p.path, "reason": p.reason} for p in exc.problems]
    return BundleInvalid(f"the rule bundle is not valid: {'; '.join(exc.errors)}", fields=fields)


def _stamped(bundle: Bundle, version: int, now: datetime) -> Bundle:
    """The bundle with the server's version and issue time, validated again (expiry vs now)."""
    data = bundle.to_dict() | {"version": version, "issued_at": rfc3339(now)}
    try:
        return validate_bundle(data, source="bundle to publish")
    except BundleError as exc:
        raise _invalid(exc) from None


def publish(session: Session, bundle: Bundle, *, key: SigningKey, actor: Actor,
            now: datetime) -> Published:
    """Sign `bundle` (resolved: no list files) as the next version and store it (audited)."""
    if not bundle.is_resolved():
        raise BundleInvalid("the bundle still refers to list files; publish it from a file "
                            "so they can be inlined")
    version = (rulesets.latest_version(session) or 0) + 1
    stamped = _stamped(bundle, version, now)
    envelope = envelope_bytes(sign_bundle(stamped, key.private_key))
    digest = hashlib.sha256(envelope).hexdigest()
    rulesets.insert(session, version=version, envelope=envelope.decode("utf-8"),
                    key_id=key.key_id, sha256=digest, publisher=actor.name, now=now)
    audit.record(session, actor, "rules.publish", target=f"rules v{version}", now=now,
                 details={"version": version, "sha256": digest, "key_id": key.key_id,
                          "categories": len(stamped.categories),
                          "nudges": len(stamped.nudges)})
    return Published(version, actor.name, now, key.key_id, digest)


def current_envelope(session: Session) -> tuple[int, str]:
    """(version, envelope JSON text) of the newest bundle, or RulesNotPublished."""
    row = rulesets.latest(session)
    if row is None:
        raise RulesNotPublished("No rule bundle has been published yet.")
    return row.version, row.envelope
