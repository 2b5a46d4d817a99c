"""Anonymiser / hosting network: a successful sign-in through a VPN, proxy, Tor or a data centre.

Needs the optional Anonymous-IP database (without it no place is marked and this never fires).
Silent for networks (ASNs) the employee has confirmed, such as the company's own VPN provider.
"""

from __future__ import annotations

from server.services.detectors.types import DetectorPolicy, EmployeeHistory, Flag, LocatedSignIn

KIND = "anonymizer"


def detect(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy
           ) -> Flag | None:
    """Flag sign-ins whose address is an anonymiser or a hosting provider's."""
    place = signin.place
    if signin.outcome != "success" or not (place.is_anonymizer or place.is_hosting):
        return None
    if place.asn is not None and place.asn in history.confirmed_asns:
        return None
    network = f"AS{place.asn} {place.network_org}" if place.asn and place.network_org else None
    where = f" ({network}, {place.label})" if network else f" ({place.label})"
    if place.is_anonymizer:
        what = "an anonymising network (VPN, proxy or Tor) that hides where it came from"
    else:
        what = "a hosting provider's network (a server or cloud address, not a home or office)"
    reason = f"Sign-in from {place.ip}{where} through {what}."
    return Flag(KIND, reason, {
        "ip": place.ip, "asn": place.asn, "network_org": place.network_org,
        "is_anonymizer": place.is_anonymizer, "is_hosting": place.is_hosting,
        "place": place.label,
    })
