"""Registrations: list, details, single and batch subjects, suppression, creation (admin and D&B-style)."""

from __future__ import annotations

import re

import httpx
import pytest

from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import (
    MONITORING,
    TEST_KEY,
    TEST_SECRET,
    admin_view,
    assert_error,
    create_registration,
    get_token,
    queue,
    update,
    wait_for,
)

DUNS = "001017545"
OTHER_DUNS = "213310873"


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        client_id=TEST_KEY, client_secret=TEST_SECRET, rate_limit_per_second=None, batch_apply_delay_seconds=0.1
    )


def test_list_registrations_in_creation_order(admin_http: httpx.Client, api: httpx.Client) -> None:
    for reference in ("REG_B", "REG_A", "REG_C"):
        create_registration(admin_http, reference)
    response = api.get(MONITORING)
    assert response.status_code == 200
    assert response.json()["messages"] == {"references": ["REG_B", "REG_A", "REG_C"]}


def test_details_have_the_documented_shape(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(
        admin_http, "TRACEONE_STD", seedData=True, email="a@example.com", description="Standard", unknownField=1
    )
    body = api.get(f"{MONITORING}/TRACEONE_STD").json()
    assert body["inquiryDetail"] == {"reference": "TRACEONE_STD"}
    messages = body["messages"]
    assert messages["notificationsSuppressed"] is False
    assert messages["state"] == "CURRENT"
    registration = messages["registration"]
    created, updated = registration.pop("createdDate"), registration.pop("lastUpdatedDate")
    assert registration == {
        "reference": "TRACEONE_STD",
        "productId": "cmpelk",
        "versionId": "v2",
        "deliveryTrigger": "API_PULL",
        "deliveryFrequency": "DAILY",
        "notificationType": "UPDATE",
        "seedData": True,
        "email": "a@example.com",
        "description": "Standard",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", created)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", updated)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", f"/subjects/{DUNS}"),
        ("POST", f"/subjects/{DUNS}"),
        ("DELETE", f"/subjects/{DUNS}"),
        ("POST", f"/duns/{DUNS}"),
        ("PUT", "/suppress"),
        ("DELETE", "/suppress"),
        ("PATCH", "/subjects"),
        ("GET", "/notifications"),
        ("GET", "/notifications/replay?replayStartTimestamp=2020-01-01T00:00:00Z"),
    ],
)
def test_unknown_registration_is_21501(api: httpx.Client, method: str, suffix: str) -> None:
    assert_error(api.request(method, f"{MONITORING}/NO_SUCH_REF{suffix}"), 404, "21501")


@pytest.mark.parametrize("segment", ["subjects", "duns"])
def test_single_subject_add_check_remove(admin_http: httpx.Client, api: httpx.Client, segment: str) -> None:
    create_registration(admin_http, "REG_A")
    path = f"{MONITORING}/REG_A/{segment}/{DUNS}"

    assert_error(api.get(path), 404, "10001")
    added = api.post(path)
    assert added.status_code == 200
    assert added.json()["information"]["code"] == "21113"
    assert added.json()["transactionDetail"]["transactionID"].startswith("rrt-")
    assert_error(api.post(path), 409, "21012")

    checked = api.get(path)
    assert checked.status_code == 200 and checked.json()["information"]["code"] == "21110"
    assert admin_view(admin_http, "REG_A")["subjects"] == [DUNS]  # leading zeros kept

    removed = api.delete(path)
    assert removed.status_code == 200 and removed.json()["information"]["code"] == "21114"
    assert_error(api.delete(path), 404, "10001")
    assert_error(api.get(path), 404, "10001")


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "12345678a", "abcdefghi"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_invalid_duns_in_path_is_10002(admin_http: httpx.Client, api: httpx.Client, bad: str, method: str) -> None:
    create_registration(admin_http, "REG_A")
    error = assert_error(api.request(method, f"{MONITORING}/REG_A/subjects/{bad}"), 400, "10002")
    assert error["errorDetails"][0]["parameter"] == "duns"


def test_removed_subject_keeps_generated_notifications(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_A", subjects=[DUNS])
    queue(admin_http, "REG_A", [update(DUNS, "before-removal")])
    assert api.delete(f"{MONITORING}/REG_A/subjects/{DUNS}").status_code == 200
    pulled = api.get(f"{MONITORING}/REG_A/notifications").json()["notifications"]
    assert pulled[0]["organization"]["duns"] == DUNS


def test_seed_data_queues_a_seed_for_each_added_subject(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_S", seedData=True, subjects=[DUNS])
    api.post(f"{MONITORING}/REG_S/subjects/{OTHER_DUNS}")
    pulled = api.get(f"{MONITORING}/REG_S/notifications", params={"maxNotifications": 10}).json()["notifications"]
    assert [n["type"] for n in pulled] == ["SEED", "SEED"]
    assert [n["organization"]["duns"] for n in pulled] == [DUNS, OTHER_DUNS]


def test_without_seed_data_adding_subjects_queues_nothing(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_N", subjects=[DUNS])
    assert admin_view(admin_http, "REG_N")["pending"] == 0


def test_batch_add_and_remove_apply_asynchronously(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_A", subjects=[OTHER_DUNS])
    lines = f"{DUNS}\r\n\n123\n  987654321  \nnot-a-duns\n{DUNS}\n"
    response = api.patch(f"{MONITORING}/REG_A/subjects", files={"addSubjectIDs": ("add.txt", lines, "text/plain")})
    assert response.status_code == 202
    assert response.json()["information"]["code"] == "21108"
    assert "errorDetails" not in response.text  # bad DUNS are reported later, not here

    wait_for(lambda: admin_view(admin_http, "REG_A")["pending_batches"] == 0)
    view = admin_view(admin_http, "REG_A")
    assert view["subjects"] == [OTHER_DUNS, DUNS, "987654321"]
    rejected = [(r["operation"], r["line"], r["value"]) for r in view["rejected_batch_lines"]]
    assert rejected == [("add", 3, "123"), ("add", 5, "not-a-duns")]

    remove = api.patch(
        f"{MONITORING}/REG_A/subjects", files={"removeSubjectIDs": ("rm.txt", f"{DUNS}\n", "text/plain")}
    )
    assert remove.status_code == 202
    wait_for(lambda: DUNS not in admin_view(admin_http, "REG_A")["subjects"])
    assert admin_view(admin_http, "REG_A")["subjects"] == [OTHER_DUNS, "987654321"]


def test_batch_is_not_applied_before_its_delay(emulator_factory) -> None:
    server = emulator_factory(batch_apply_delay_seconds=3600, rate_limit_per_second=None)
    with httpx.Client(base_url=server.url) as http:
        create_registration(http, "REG_A")
        token = get_token(http)
        response = http.patch(
            f"{MONITORING}/REG_A/subjects",
            files={"addSubjectIDs": ("add.txt", DUNS, "text/plain")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202
        view = admin_view(http, "REG_A")
        assert view["pending_batches"] == 1 and view["subjects"] == []


def test_batch_with_seed_data_queues_seeds(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_S", seedData=True)
    api.patch(f"{MONITORING}/REG_S/subjects", files={"addSubjectIDs": ("a.txt", f"{DUNS}\n{OTHER_DUNS}\n")})
    wait_for(lambda: admin_view(admin_http, "REG_S")["pending"] == 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {"otherPart": ("x.txt", DUNS)}},
        {"content": DUNS, "headers": {"Content-Type": "text/plain"}},
        {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
    ],
    ids=["no-known-part", "not-multipart", "broken-multipart"],
)
def test_batch_without_a_subject_part_is_10002(admin_http: httpx.Client, api: httpx.Client, kwargs: dict) -> None:
    create_registration(admin_http, "REG_A")
    assert_error(api.patch(f"{MONITORING}/REG_A/subjects", **kwargs), 400, "10002")


def test_suppression_holds_notifications(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_H", suppressed=True)
    queue(admin_http, "REG_H", [update(DUNS, "held")])
    assert api.get(f"{MONITORING}/REG_H").json()["messages"]["notificationsSuppressed"] is True
    assert_error(api.get(f"{MONITORING}/REG_H/notifications"), 404, "21502")

    released = api.delete(f"{MONITORING}/REG_H/suppress")
    assert released.status_code == 200
    assert api.get(f"{MONITORING}/REG_H").json()["messages"]["notificationsSuppressed"] is False
    assert api.get(f"{MONITORING}/REG_H/notifications").json()["notifications"][0]["elements"][0]["current"] == "held"

    assert api.put(f"{MONITORING}/REG_H/suppress").status_code == 200
    assert admin_view(admin_http, "REG_H")["suppressed"] is True


def test_dnb_style_create_accepts_json_and_multipart(api: httpx.Client) -> None:
    created = api.post(MONITORING, json={"reference": "JSON_REG", "deliveryTrigger": "STP", "extra": [1]})
    assert created.status_code == 201
    assert created.json()["messages"]["registration"]["deliveryTrigger"] == "STP"
    form = {"reference": "FORM_REG", "seedData": "true", "productId": "cmpelk", "subjects": f"{DUNS}\n{OTHER_DUNS}"}
    created = api.post(MONITORING, files={"description": (None, "Form registration")}, data=form)
    assert created.status_code == 201
    assert created.json()["messages"]["registration"]["seedData"] is True
    assert api.get(MONITORING).json()["messages"]["references"] == ["JSON_REG", "FORM_REG"]
    assert api.get(f"{MONITORING}/FORM_REG/subjects/{OTHER_DUNS}").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"reference": "JSON_REG"}, {"reference": "../etc"}, {"seedData": True}, {"reference": "OK", "seedData": "maybe"}],
    ids=["duplicate", "bad-reference", "no-reference", "bad-flag"],
)
def test_dnb_style_create_rejects_bad_bodies(api: httpx.Client, body: dict) -> None:
    api.post(MONITORING, json={"reference": "JSON_REG"})
    assert_error(api.post(MONITORING, json=body), 400, "10002")


def test_dnb_style_create_needs_a_token(emulator) -> None:
    with httpx.Client(base_url=emulator.url) as http:
        assert_error(http.post(MONITORING, json={"reference": "X"}), 401, "00004")


@pytest.mark.parametrize(
    "reference", ["", ".", "..", ".hidden", "a..b", "a/b", "a b", "x" * 65, "é", None, 5], ids=lambda r: repr(r)[:12]
)
def test_admin_create_validates_reference(admin_http: httpx.Client, reference: object) -> None:
    response = admin_http.post("/_emulator/registrations", json={"reference": reference})
    assert response.status_code == 400
    assert "reference" in response.json()["error"]


def test_admin_create_accepts_edge_references(admin_http: httpx.Client) -> None:
    for reference in ("a", "x" * 64, "A.b-c_1", "9_lives"):
        create_registration(admin_http, reference)


@pytest.mark.parametrize(
    "body",
    [
        {"reference": "R", "subjects": ["12345"]},
        {"reference": "R", "subjects": {"duns": "001017545"}},
        {"reference": "R", "seedData": "yes please"},
        {"reference": "R", "productId": 7},
        {"reference": "R", "suppressed": 1.5},
        ["R"],
    ],
)
def test_admin_create_rejects_bad_fields(admin_http: httpx.Client, body: object) -> None:
    assert admin_http.post("/_emulator/registrations", json=body).status_code == 400


def test_admin_create_duplicate_is_409(admin_http: httpx.Client) -> None:
    create_registration(admin_http, "DUP")
    response = admin_http.post("/_emulator/registrations", json={"reference": "DUP"})
    assert response.status_code == 409


def test_admin_create_rejects_non_json(admin_http: httpx.Client) -> None:
    response = admin_http.post("/_emulator/registrations", content=b"{nope")
    assert response.status_code == 400 and "JSON" in response.json()["error"]
