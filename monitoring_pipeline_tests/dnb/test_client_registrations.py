"""Registration endpoints through the client: typed results, D&B's idempotent codes, clear errors."""

from __future__ import annotations

import pytest

from monitoring_pipeline.dnb.errors import DnbNotFoundError, DnbRequestError
from monitoring_pipeline_tests.waiting import eventually


def test_list_and_details_follow_the_documented_shape(client, admin):
    admin.create_registration("REG_A", description="Standard portfolio", email="a@example.com", seedData=True)
    admin.create_registration("REG_B", deliveryTrigger="WEBHOOK")

    assert sorted(client.list_registrations()) == ["REG_A", "REG_B"]
    details = client.get_registration("REG_A")
    assert details.reference == "REG_A"
    assert details.messages.registration.deliveryTrigger == "API_PULL"
    assert details.messages.registration.productId == "cmpelk"
    assert details.messages.registration.seedData is True
    assert details.messages.state == "CURRENT"
    assert details.transactionDetail.transactionID.startswith("rrt-")


def test_create_registration_through_the_api(client):
    created = client.create_registration({"reference": "REG_NEW", "productId": "cmpelk", "seedData": False})
    assert created.reference == "REG_NEW"
    assert "REG_NEW" in client.list_registrations()


def test_subject_add_is_idempotent_and_remove_tolerates_absence(client, admin):
    admin.create_registration("REG_SUBJECTS")

    added = client.add_subject("REG_SUBJECTS", "001017545")
    assert (added.code, added.already_in_desired_state) == ("21113", False)
    again = client.add_subject("REG_SUBJECTS", "001017545")
    assert (again.code, again.already_in_desired_state) == ("21012", True)
    assert client.has_subject("REG_SUBJECTS", "001017545")

    removed = client.remove_subject("REG_SUBJECTS", "001017545")
    assert (removed.code, removed.already_in_desired_state) == ("21114", False)
    assert not client.has_subject("REG_SUBJECTS", "001017545")
    assert client.remove_subject("REG_SUBJECTS", "001017545").already_in_desired_state


def test_batch_add_and_remove_are_accepted_then_applied_asynchronously(client, admin):
    admin.create_registration("REG_BATCH")
    duns = [f"{n:09d}" for n in range(100000001, 100000051)]

    accepted = client.batch_add_subjects("REG_BATCH", duns)
    assert accepted.code == "21108"
    assert eventually(lambda: len(admin.registration("REG_BATCH")["subjects"]) == 50)

    client.batch_remove_subjects("REG_BATCH", duns[:20])
    assert eventually(lambda: len(admin.registration("REG_BATCH")["subjects"]) == 30)


def test_suppress_and_unsuppress(client, admin):
    admin.create_registration("REG_SUPPRESS")
    client.suppress("REG_SUPPRESS")
    assert client.get_registration("REG_SUPPRESS").suppressed
    client.unsuppress("REG_SUPPRESS")
    assert not client.get_registration("REG_SUPPRESS").suppressed


def test_unknown_registration_is_a_typed_error_with_code_and_transaction(client):
    with pytest.raises(DnbNotFoundError) as raised:
        client.get_registration("NO_SUCH_REF")
    assert raised.value.error_code == "21501"
    assert raised.value.http_status == 404
    assert raised.value.transaction_id and raised.value.transaction_id in str(raised.value)


def test_pull_on_a_registration_that_is_not_api_pull_is_refused(client, admin):
    admin.create_registration("REG_WEBHOOK", deliveryTrigger="WEBHOOK")
    with pytest.raises(DnbRequestError) as raised:
        client.pull("REG_WEBHOOK")
    assert raised.value.error_code == "21503"


@pytest.mark.parametrize("reference", ["../etc", "a/b", "a\\b", "..", "", "x" * 65])
def test_unsafe_references_are_refused_before_any_call(client, admin, reference):
    with pytest.raises(ValueError, match="registration reference"):
        client.get_registration(reference)
    assert admin.stats()["calls_total"] == 0


@pytest.mark.parametrize("duns", ["12345678", "1234567890", "12345678a", 123456789])
def test_malformed_duns_are_refused_before_any_call(client, admin, duns):
    admin.create_registration("REG_DUNS")
    with pytest.raises(ValueError, match="DUNS"):
        client.add_subject("REG_DUNS", duns)
    assert admin.stats()["calls_total"] == 0
