"""The employee's side, through real enrolled devices on both databases: a flagged sign-in makes
one "was this you?" notification for its employee only, /me/logins pages their own sign-ins,
answers open cases or teach known places, and nobody reaches anyone else's sign-ins."""

from __future__ import annotations

from sqlalchemy import func, select

from server.storage.models import Notification
from server.storage.signin_models import KnownPlaceRow

A, B = "e1042@corp.example", "e2077@corp.example"


def baseline(kit, who: str) -> list[str]:
    """Ten ordinary London sign-ins on 1-10 April 2024: past the learning period."""
    return [f"{who},2024-04-{day:02d}T08:00:00Z,{kit.LONDON},success,{who}-base-{day}"
            for day in range(1, 11)]


def setup(app, kit) -> tuple[dict, dict, str]:
    device_a = kit.enrol(app, A, ("e1042",), name="A-LAPTOP")
    device_b = kit.enrol(app, B, ("e2077",), name="B-LAPTOP")
    token = kit.ingest_token(app)
    for who in ("e1042", "e2077"):
        report = kit.post_logins(app, token, "generic-csv", kit.csv(*baseline(kit, who))).json()
        assert report["accepted"] == 10 and report["flagged"] == 0
    return device_a, device_b, token


def notifications(app) -> int:
    with app.ctx.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Notification))


def test_flagged_signin_notifies_only_its_employee(app, kit) -> None:
    device_a, device_b, token = setup(app, kit)
    assert notifications(app) == 0  # ordinary sign-ins notify nobody
    tokyo = f"e1042,2024-04-10T08:40:00Z,{kit.TOKYO},success,a-tokyo"
    report = kit.post_logins(app, token, "generic-csv", kit.csv(tokyo)).json()
    assert report["flagged"] == 1
    assert notifications(app) == 1
    reply_a = app.checkin(device_a).json()
    assert len(reply_a["notifications"]) == 1
    notice = reply_a["notifications"][0]
    assert notice["kind"] == "signin.review"
    assert notice["title"] == "New sign-in from Tokyo, Japan at 08:40 UTC — was this you?"
    assert "km/h" in notice["body"] and "Tokyo, Japan" in notice["body"]
    assert notice["data"]["answers"] == ["was_me", "not_me", "not_sure"]
    assert set(notice["data"]["flags"]) == {"new_country", "impossible_travel"}
    assert app.checkin(device_b).json()["notifications"] == []


def test_my_logins_pages_newest_first_and_never_shows_others(app, kit) -> None:
    device_a, device_b, token = setup(app, kit)
    kit.post_logins(app, token, "generic-csv",
                    kit.csv(f"e1042,2024-04-10T08:40:00Z,{kit.TOKYO},success,a-tokyo"))
    first = app.client.get("/api/v1/me/logins?limit=4", headers=app.auth(device_a)).json()
    assert len(first["logins"]) == 4 and first["next_cursor"]
    top = first["logins"][0]
    assert top["place"]["label"] == "Tokyo, Japan" and top["place"]["accuracy_radius_km"] == 20
    assert top["place"]["latitude"] == 35.685 and top["network"]["is_anonymizer"] is False
    assert {f["kind"] for f in top["flags"]} == {"new_country", "impossible_travel"}
    assert all("details" not in f for f in top["flags"]) and top["answer"] is None
    seen = [item["id"] for item in first["logins"]]
    cursor = first["next_cursor"]
    while cursor:
        page = app.client.get("/api/v1/me/logins", params={"limit": 4, "cursor": cursor},
                              headers=app.auth(device_a)).json()
        seen += [item["id"] for item in page["logins"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 11
    times = [item["occurred_at"] for item in first["logins"]]
    assert times == sorted(times, reverse=True)
    others = app.client.get("/api/v1/me/logins?limit=200", headers=app.auth(device_b)).json()
    assert not set(seen) & {item["id"] for item in others["logins"]}
    bad = app.client.get("/api/v1/me/logins?cursor=nonsense", headers=app.auth(device_a))
    assert bad.status_code == 422
    assert app.client.get("/api/v1/me/logins").status_code == 401


def test_answers_cases_and_the_authorization_matrix(app, kit) -> None:
    device_a, device_b, token = setup(app, kit)
    kit.post_logins(app, token, "generic-csv",
                    kit.csv(f"e1042,2024-04-10T08:40:00Z,{kit.TOKYO},success,a-tokyo"))
    mine = app.client.get("/api/v1/me/logins", headers=app.auth(device_a)).json()["logins"]
    tokyo, london = mine[0]["id"], mine[1]["id"]

    def answer(device, signin_id, choice, comment=None):
        return app.client.post(f"/api/v1/me/logins/{signin_id}/answer",
                               json={"answer": choice, "comment": comment},
                               headers=app.auth(device))

    for target in (tokyo, 999_999, "abc", "1e3"):  # B never reaches A's sign-ins, or learns of them
        refused = answer(device_b, target, "not_me")
        assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert answer(device_a, tokyo, "maybe").status_code == 422
    reply = answer(device_a, tokyo, "not_me", "I was in London").json()
    assert reply["case"] == {"number": 1, "state": "new"}
    again = answer(device_a, london, "not_sure").json()
    assert again["case"] == {"number": 1, "state": "new"}  # added to the open case
    assert app.checkin(device_a).json()["notifications"] == []  # answering acknowledged it
    cases = app.client.get("/api/v1/me/cases", headers=app.auth(device_a)).json()["cases"]
    assert [(c["number"], c["state"]) for c in cases] == [(1, "new")]
    assert set(cases[0]) == {"number", "state", "resolved", "created_at", "updated_at"}
    assert app.client.get("/api/v1/me/cases", headers=app.auth(device_b)).json() == {
        "cases": []}
    listed = app.client.get("/api/v1/me/logins", headers=app.auth(device_a)).json()["logins"]
    assert listed[0]["answer"]["answer"] == "not_me"
    assert listed[0]["answer"]["comment"] == "I was in London"


def known(app, email: str) -> set[str]:
    with app.ctx.db.transaction() as s:
        from server.storage.employees import get_by_email
        employee = get_by_email(s, email)
        return set(s.scalars(select(KnownPlaceRow.place_key)
                             .where(KnownPlaceRow.employee_id == employee.id)))


def test_was_me_teaches_the_detectors(app, kit) -> None:
    device_a, device_b, token = setup(app, kit)

    def ingest(*rows: str) -> dict:
        return kit.post_logins(app, token, "generic-csv", kit.csv(*rows)).json()

    for who in ("e1042", "e2077"):  # both travel to Stockholm: flagged as a new country
        assert ingest(f"{who},2024-04-12T08:00:00Z,{kit.STOCKHOLM},success,{who}-se1"
                      )["flagged"] == 1
    # A answers in the API; B answers the notification itself (the tray's buttons)
    mine = app.client.get("/api/v1/me/logins", headers=app.auth(device_a)).json()["logins"]
    assert app.client.post(f"/api/v1/me/logins/{mine[0]['id']}/answer",
                           json={"answer": "was_me"}, headers=app.auth(device_a)
                           ).json()["case"] is None
    notice = app.checkin(device_b).json()["notifications"][0]
    acked = app.client.post(f"/api/v1/notifications/{notice['id']}/ack",
                            json={"response": "was_me"}, headers=app.auth(device_b))
    assert acked.status_code == 200
    theirs = app.client.get("/api/v1/me/logins", headers=app.auth(device_b)).json()["logins"]
    assert theirs[0]["answer"]["answer"] == "was_me"
    assert any(key.startswith("place:SE:Stockholm") for key in known(app, A))
    assert any(key.startswith("place:SE:Stockholm") for key in known(app, B))
    assert "country:GB" in known(app, A)  # learned from ordinary sign-ins
    # back home, then Stockholm again in a later upload: known now, so no flag
    assert ingest("e1042,2024-04-20T08:00:00Z,81.2.69.142,success,a-home")["flagged"] == 0
    later = ingest(f"e1042,2024-04-25T08:00:00Z,{kit.STOCKHOLM},success,a-se2")
    assert later["flagged"] == 0
    # an employee who never answered is asked again
    app.add_employee("e3001@corp.example", "GB", ("e3001",))
    assert ingest(*baseline(kit, "e3001"))["flagged"] == 0
    assert ingest(f"e3001,2024-04-12T08:00:00Z,{kit.STOCKHOLM},success,c-se1")["flagged"] == 1
    assert ingest(f"e3001,2024-04-20T08:00:00Z,{kit.LONDON},success,c-home")["flagged"] == 0
    assert ingest(f"e3001,2024-04-25T08:00:00Z,{kit.STOCKHOLM},success,c-se2")["flagged"] == 1
