"""The detectors' thresholds and which flags notify the employee, from the newest published
rule bundle's `login_alerts` section (defaults when nothing is published yet).

The bundle is the server's own signed envelope from its own database, so it is read without
verifying the signature again. LoginAlertSettings has no failure-burst or away-from-device
thresholds: DetectorPolicy keeps its defaults for those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from rules.model import DETECTORS
from rules.signing import read_envelope_unverified
from server.services.detectors import DetectorPolicy
from server.storage import rulesets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginPolicy:
    """Detector thresholds plus the flag kinds that make a notification."""

    detectors: DetectorPolicy
    notify: frozenset[str]
    rules_version: int | None = None

    def notifies(self, kinds: list[str]) -> bool:
        """True if any of these flag kinds should ask the employee "was this you?"."""
        return any(kind in self.notify for kind in kinds)


DEFAULT = LoginPolicy(DetectorPolicy(), frozenset(DETECTORS))
_BY_VERSION: dict[int, LoginPolicy] = {}


def current_policy(session: Session) -> LoginPolicy:
    """The policy of the newest published bundle; the defaults if none (or it is unreadable,
    which is logged: detection must go on)."""
    version = rulesets.latest_version(session)
    if version is None:
        return DEFAULT
    if version in _BY_VERSION:  # published bundles never change; parsing one can be slow
        return _BY_VERSION[version]
    row = rulesets.get(session, version)
    if row is None:
        return DEFAULT
    try:
        bundle = read_envelope_unverified(row.envelope)
    except Exception:  # noqa: BLE001 - a broken stored bundle must not stop ingestion
        log.exception("rules v%s unreadable; sign-in detectors use defaults", row.version)
        return DEFAULT
    section = bundle.login_alerts
    policy = LoginPolicy(DetectorPolicy.from_login_alerts(section), frozenset(section.notify),
                         row.version)
    if len(_BY_VERSION) > 16:
        _BY_VERSION.clear()
    _BY_VERSION[version] = policy
    return policy
