"""Sign-in detectors: pure functions over one employee's history that explain themselves.

    flags = detect_all(signin, history, DetectorPolicy.from_login_alerts(bundle.login_alerts))

Each detector module exposes `KIND` and `detect(signin, history, policy) -> Flag | None`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from server.services.detectors import (
    anonymizer,
    away_from_device,
    failure_burst,
    impossible_travel,
    new_country,
)
from server.services.detectors.types import (
    DetectorPolicy,
    DeviceCheckIn,
    EmployeeHistory,
    Flag,
    KnownPlace,
    LocatedSignIn,
)

log = logging.getLogger(__name__)

Detector = Callable[[LocatedSignIn, EmployeeHistory, DetectorPolicy], Flag | None]
DETECTORS: dict[str, Detector] = {
    module.KIND: module.detect
    for module in (new_country, impossible_travel, anonymizer, failure_burst, away_from_device)
}


def detect_all(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy,
               detectors: Sequence[Detector] | None = None) -> list[Flag]:
    """Every flag the detectors raise for `signin`, in a fixed order.

    A detector that crashes is logged and skipped: one bug must not stop a sign-in from being
    stored or the other detectors from judging it.
    """
    flags = []
    for detect in detectors if detectors is not None else DETECTORS.values():
        try:
            flag = detect(signin, history, policy)
        except Exception:
            log.exception("detector %s failed on sign-in %s", getattr(detect, "__module__", detect),
                          signin.id)
            continue
        if flag is not None:
            flags.append(flag)
    return flags


__all__ = ["DETECTORS", "DetectorPolicy", "DeviceCheckIn", "EmployeeHistory", "Flag",
           "KnownPlace", "LocatedSignIn", "detect_all"]
