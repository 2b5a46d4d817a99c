"""Signed rule distribution: publish (admin API), GET /api/v1/rules/current with ETag/304,
and the envelope verifying against the keys handed out at enrolment."""

from __future__ import annotations

from datetime import timedelta

from rules.errors import RollbackRefused
from rules.signing import verify_envelope

BUNDLE = """
schema: 1
version: 99          # ignored: the server assigns versions
categories:
  gambling:
    domains: [bet365.com, pokerstars.com]
nudges:
  - categories: [gambling]
    countries: [AE]
    messages: ["Gambling is unlawful in {country}."]
"""


def _publish(h, client, csrf, text=BUNDLE):
    return client.post("/api/v1/admin/rules", json={"yaml": text},
                       headers={"X-CSRF-Token": csrf})


def test_rules_flow_with_etag(harness):
    device = harness.enroll()
    auth = harness.auth(device)
    missing = harness.client.get("/api/v1/rules/current", headers=auth)
    assert (missing.status_code, missing.json()["error"]) == (404, "rules_not_published")

    admin, csrf = harness.login("security_admin")
    published = _publish(harness, admin, csrf)
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 1
    assert harness.checkin(device).json()["rules_version"] == 1

    current = harness.client.get("/api/v1/rules/current", headers=auth)
    assert current.status_code == 200
    assert current.headers["etag"] == '"rules-v1"'
    bundle = verify_envelope(current.content, [device["rules_public_keys"][0]["public_key_pem"]],
                             now=harness.clock())
    assert bundle.version == 1
    assert bundle.issued_at == harness.clock()
    assert bundle.categories["gambling"].domains == ("bet365.com", "pokerstars.com")

    for header in ('"rules-v1"', 'W/"rules-v1"', '"rules-v0", "rules-v1"', "*"):
        cached = harness.client.get("/api/v1/rules/current",
                                    headers={**auth, "If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == '"rules-v1"'

    harness.clock.advance(minutes=5)
    assert _publish(harness, admin, csrf).json()["version"] == 2
    fresh = harness.client.get("/api/v1/rules/current",
                               headers={**auth, "If-None-Match": '"rules-v1"'})
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"rules-v2"'
    newer = verify_envelope(fresh.content, [harness.ctx.signing_key.public_key_pem],
                            now=harness.clock(), min_version=1)
    assert newer.version == 2
    try:
        verify_envelope(current.content, [harness.ctx.signing_key.public_key_pem],
                        now=harness.clock(), min_version=2)
    except RollbackRefused:
        pass
    else:
        raise AssertionError("an older envelope must be refused by agents")


def test_publish_records_publisher_and_audit(harness):
    admin, csrf = harness.login("security_admin")
    assert _publish(harness, admin, csrf).status_code == 201
    listing = admin.get("/api/v1/admin/rules").json()["versions"]
    assert [(v["version"], v["publisher"].startswith("user:security_admin-")) for v in listing] \
        == [(1, True)]
    audit = admin.get("/api/v1/admin/audit", params={"action": "rules.publish"}).json()
    [entry] = audit["entries"]
    assert entry["target"] == "rules v1" and entry["source_ip"] == "127.0.0.1"
    assert entry["details"]["sha256"] == listing[0]["sha256"]


def test_invalid_bundle_is_422_with_every_problem(harness):
    admin, csrf = harness.login("security_admin")
    reply = _publish(harness, admin, csrf, "schema: 1\nversion: 1\ncategories: {}\nnudges:\n"
                     "  - categories: [nope]\n    messages: [hi]\n    countries: [XX]\n")
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "bundle_invalid"
    paths = {f["path"] for f in body["fields"]}
    assert "nudges[0].categories[0]" in paths and "nudges[0].countries[0]" in paths
    assert admin.get("/api/v1/admin/rules").json()["versions"] == []


def test_bundle_already_expired_is_refused(harness):
    admin, csrf = harness.login("security_admin")
    past = (harness.clock() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = _publish(harness, admin, csrf, f"schema: 1\nversion: 1\nexpires_at: '{past}'\n")
    assert reply.status_code == 422
    assert reply.json()["fields"][0]["path"] == "expires_at"
