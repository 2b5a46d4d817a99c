"""Where the server sees a device: from the request address, believing X-Forwarded-For only
from trusted proxies (real GeoLite2 demo database)."""

from __future__ import annotations

import pytest

from server.services.client_ip import ClientIpResolver
from server.storage import devices as device_store

LONDON, STOCKHOLM = "81.2.69.142", "89.160.20.112"


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("127.0.0.1", LONDON, LONDON),                       # trusted proxy: believe it
    ("127.0.0.1", f"6.6.6.6, {LONDON}", LONDON),         # client-prepended entry ignored
    ("127.0.0.1", f"{LONDON}, 10.1.2.3", LONDON),        # two trusted hops
    ("10.1.2.3", LONDON, LONDON),
    (STOCKHOLM, LONDON, STOCKHOLM),                      # untrusted peer: header ignored
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "garbage", "127.0.0.1"),
    ("::ffff:127.0.0.1", LONDON, LONDON),                # IPv4-mapped peer
    ("127.0.0.1", "10.9.9.9", "10.9.9.9"),               # all hops trusted: left-most
])
def test_client_ip_resolution(peer, forwarded, expected):
    resolver = ClientIpResolver(["127.0.0.1/32", "10.0.0.0/8"])
    assert resolver.resolve(peer, forwarded) == expected


def test_no_trusted_proxies_means_the_peer():
    assert ClientIpResolver().resolve("127.0.0.1", LONDON) == "127.0.0.1"


def test_checkin_reports_country_of_forwarded_address(make_harness, geolocator):
    h = make_harness(geolocator=geolocator)
    device = h.enroll()
    reply = h.client.post("/api/v1/checkin", json={"state": {"agent_version": "1"}},
                          headers={**h.auth(device), "X-Forwarded-For": LONDON})
    assert reply.json()["location"] == {"kind": "public", "country_code": "GB",
                                        "country_name": "United Kingdom", "city": "Willesden",
                                        "source": "request_ip"}
    with h.ctx.db.transaction() as s:
        state = device_store.get_state(s, device["device_id"])
    assert (state.last_ip, state.last_country_code) == (LONDON, "GB")


def test_untrusted_peer_cannot_choose_its_country(make_harness, geolocator):
    h = make_harness(geolocator=geolocator)
    device = h.enroll()
    client = h.new_client(peer=STOCKHOLM)
    reply = client.post("/api/v1/checkin", json={"state": {"agent_version": "1"}},
                        headers={**h.auth(device), "X-Forwarded-For": LONDON})
    assert reply.json()["location"]["country_code"] == "SE"


def test_internal_address_is_not_a_place(make_harness, geolocator):
    h = make_harness(geolocator=geolocator)
    device = h.enroll()
    location = h.checkin(device).json()["location"]
    assert location == {"kind": "internal", "country_code": None, "country_name": None,
                        "city": None, "source": "request_ip"}
