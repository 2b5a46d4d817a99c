"""Help-desk cases on both databases: opened by a "not me" answer, worked through the admin API
by role (help desk and security admin write, auditor reads), with timestamps for the service
times, audited, and the employee told of each change without details."""

from __future__ import annotations

from server.storage import audit as audit_store


def open_case(app, kit) -> dict:
    device = kit.enrol(app, "e1042@corp.example", ("e1042",))
    token = kit.ingest_token(app)
    rows = [f"e1042,2024-04-{d:02d}T08:00:00Z,{kit.LONDON},success,base-{d}" for d in range(1, 11)]
    rows.append(f"e1042,2024-04-10T08:40:00Z,{kit.TOKYO},success,tokyo")
    kit.post_logins(app, token, "generic-csv", kit.csv(*rows))
    tokyo = app.client.get("/api/v1/me/logins", headers=app.auth(device)).json()["logins"][0]
    reply = app.client.post(f"/api/v1/me/logins/{tokyo['id']}/answer",
                            json={"answer": "not_me"}, headers=app.auth(device)).json()
    assert reply["case"]["number"] == 1
    app.checkin(device)  # the review notification is answered; nothing else pending
    return device


def test_case_lifecycle_with_timestamps_and_employee_notices(app, kit) -> None:
    device = open_case(app, kit)
    helpdesk, csrf = app.login("helpdesk")
    headers = {"X-CSRF-Token": csrf}
    listed = helpdesk.get("/api/v1/admin/cases").json()["cases"]
    assert [(c["number"], c["state"], c["employee"]) for c in listed] == [
        (1, "new", "e1042@corp.example")]
    case = helpdesk.get("/api/v1/admin/cases/1").json()
    assert case["employee"]["email"] == "e1042@corp.example"
    assert case["signins"][0]["place"]["label"] == "Tokyo, Japan"
    assert case["signins"][0]["answer"]["answer"] == "not_me"
    assert "min_speed_kmh" in {k for f in case["signins"][0]["flags"] for k in f["details"]}
    assert case["first_response_at"] is None and case["notes"][0]["kind"] == "employee"

    me = helpdesk.get("/api/v1/admin/cases/1").json()  # read is not a response
    assert me["first_response_at"] is None
    app.clock.advance(minutes=10)
    user = app.create_user("helpdesk", "agent@corp.example")
    assigned = helpdesk.post("/api/v1/admin/cases/1/assign", json={"assignee": user},
                             headers=headers).json()
    assert assigned["assignee"] == "agent@corp.example"
    assert assigned["time_to_first_response_seconds"] == 600
    moved = helpdesk.post("/api/v1/admin/cases/1/state", json={"state": "in_progress"},
                          headers=headers).json()
    assert moved["state"] == "in_progress"
    notice = app.checkin(device).json()["notifications"]
    assert [(n["kind"], n["body"]) for n in notice] == [
        ("case.update", "The help desk is looking at your report #1.")]
    no_resolution = helpdesk.post("/api/v1/admin/cases/1/state", json={"state": "resolved"},
                                  headers=headers)
    assert no_resolution.status_code == 422
    app.clock.advance(minutes=110)
    done = helpdesk.post("/api/v1/admin/cases/1/state",
                         json={"state": "resolved", "resolution": "compromised",
                               "note": "password reset, sessions revoked"},
                         headers=headers).json()
    assert done["resolution"] == "compromised" and done["time_to_resolve_seconds"] == 7200
    assert done["resolved_at"] == "2024-05-02T11:00:00Z"
    resolved = [n for n in app.checkin(device).json()["notifications"]
                if n["kind"] == "case.update"]
    assert resolved[-1]["body"] == "Your report #1 has been resolved."
    assert "compromised" not in str(resolved)  # no details go to the employee
    illegal = helpdesk.post("/api/v1/admin/cases/1/state",
                            json={"state": "waiting_on_employee"}, headers=headers)
    assert illegal.status_code == 409
    note = helpdesk.post("/api/v1/admin/cases/1/notes", json={"body": "called the employee"},
                         headers=headers)
    assert note.status_code == 201
    assert [n["kind"] for n in note.json()["notes"]] == ["employee", "assign", "state",
                                                          "state", "note"]
    filtered = helpdesk.get("/api/v1/admin/cases?state=resolved&assignee=agent@corp.example")
    assert [c["number"] for c in filtered.json()["cases"]] == [1]
    assert helpdesk.get("/api/v1/admin/cases?assignee=none").json()["cases"] == []
    with app.ctx.db.transaction() as s:
        actions = [(e.action, e.target) for e in audit_store.entries(s) if
                   e.action.startswith("case.")]
    assert actions == [("case.note", "case #1"), ("case.state", "case #1"),
                       ("case.state", "case #1"), ("case.assign", "case #1")]


def test_role_matrix(app, kit) -> None:
    open_case(app, kit)
    for role, can_write in (("helpdesk", True), ("security_admin", True), ("auditor", False)):
        client, csrf = app.login(role)
        assert client.get("/api/v1/admin/cases").status_code == 200
        assert client.get("/api/v1/admin/cases/1").status_code == 200
        assert client.get("/api/v1/admin/signins?flagged=true").status_code == 200
        wrote = client.post("/api/v1/admin/cases/1/notes", json={"body": f"by {role}"},
                            headers={"X-CSRF-Token": csrf})
        assert wrote.status_code == (201 if can_write else 403), role
        if can_write:
            no_csrf = client.post("/api/v1/admin/cases/1/notes", json={"body": "x"})
            assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf_failed"
    anonymous = app.new_client()
    assert anonymous.get("/api/v1/admin/cases").status_code == 401
    assert anonymous.get("/api/v1/admin/cases/1").status_code == 401
    ingest_only = kit.ingest_token(app)
    refused = app.client.get("/api/v1/admin/cases",
                             headers={"Authorization": f"Bearer {ingest_only}"})
    assert refused.status_code == 403
    helpdesk, _ = app.login("helpdesk")
    assert helpdesk.get("/api/v1/admin/cases/99").status_code == 404
    geo = helpdesk.get("/api/v1/admin/geoip").json()
    assert geo["is_demo_database"] is True and "2018" in geo["warning"]


def test_help_desk_sees_only_employees_with_a_case(app, kit) -> None:
    open_case(app, kit)  # e1042 has a case
    kit.enrol(app, "e2000@corp.example", ("e2000",))
    token = kit.ingest_token(app)
    kit.post_logins(app, token, "generic-csv",
                    kit.csv(f"e2000,2024-04-11T08:00:00Z,{kit.LONDON},success,e2000-1"))
    helpdesk, _ = app.login("helpdesk")
    admin, _ = app.login("security_admin")

    def owners(client, path: str, key: str, field: str) -> set[str]:
        reply = client.get(path)
        assert reply.status_code == 200, reply.text
        return {row[field] for row in reply.json()[key]}

    everyone = {"e1042@corp.example", "e2000@corp.example"}
    assert owners(admin, "/api/v1/admin/employees", "employees", "email") == everyone
    assert owners(helpdesk, "/api/v1/admin/employees", "employees", "email") == {
        "e1042@corp.example"}
    assert owners(admin, "/api/v1/admin/devices", "devices", "employee") == everyone
    assert owners(helpdesk, "/api/v1/admin/devices", "devices", "employee") == {
        "e1042@corp.example"}
    assert owners(admin, "/api/v1/admin/signins", "signins", "identity") >= {"e1042", "e2000"}
    assert owners(helpdesk, "/api/v1/admin/signins", "signins", "identity") == {"e1042"}
    refused = helpdesk.get("/api/v1/admin/signins?employee=e2000@corp.example")
    assert refused.status_code == 403 and "have a case" in refused.json()["message"]
    mine = helpdesk.get("/api/v1/admin/signins?employee=e1042@corp.example")
    assert mine.status_code == 200 and len(mine.json()["signins"]) == 11
