"""Tokens: v3 and v2 shapes, reuse across processes via the cache, refresh on rejection, no leaks."""

from __future__ import annotations

import logging
import stat
import time

import pytest

from monitoring_pipeline.dnb.errors import DnbAuthError
from monitoring_pipeline.dnb.token_cache import CachedToken
from monitoring_pipeline_tests.conftest import CLIENT_SECRET
from monitoring_pipeline_tests.dnb.ground_truth import assert_exactly_once


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_token_is_fetched_once_and_reused_by_every_client_sharing_the_state(make_client, admin, api_version):
    admin.create_registration("AUTH_REUSE")
    first = make_client(api_version=api_version)
    second = make_client(api_version=api_version)  # stands for another process: only the files are shared

    assert first.list_registrations() == ["AUTH_REUSE"]
    assert second.list_registrations() == ["AUTH_REUSE"]
    first.get_registration("AUTH_REUSE")

    assert admin.stats()["tokens_issued"] == 1
    assert first.tokens.tokens_fetched + second.tokens.tokens_fetched == 1


def test_token_cache_file_is_private_to_this_user(client, admin, state_dir):
    client.list_registrations()
    token_files = list(state_dir.glob("dnb-token-*.json"))
    assert len(token_files) == 1
    assert stat.S_IMODE(token_files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_bad_credentials_raise_a_typed_error_without_the_secret(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    for version, code in (("v3", "00041"), ("v2", "00041")):
        client = make_client(client_secret="wrong-" + CLIENT_SECRET, api_version=version)
        with pytest.raises(DnbAuthError) as raised:
            client.list_registrations()
        assert raised.value.error_code == code
        assert raised.value.http_status == 401
        assert CLIENT_SECRET not in str(raised.value)
    assert CLIENT_SECRET not in caplog.text


def test_expired_token_is_refreshed_once_in_the_middle_of_a_drain(client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    admin.create_registration("AUTH_EXPIRY")
    admin.generate("AUTH_EXPIRY", 450, types={"UPDATE": 1})
    admin.faults(token_expiry_after_calls=2)

    pages = list(client.drain("AUTH_EXPIRY"))

    assert assert_exactly_once(admin, "AUTH_EXPIRY", pages) == 450
    assert client.stats.token_refreshes_after_rejection == 1
    assert admin.stats()["tokens_issued"] == 2
    token = client.tokens.current()
    assert token is not None and token.access_token not in caplog.text


def test_a_token_near_expiry_is_refreshed_early(client, admin):
    client.list_registrations()
    now = time.time()
    # 3 s left of a 100 s lifetime is under the 10 % margin: refresh before D&B refuses it.
    client.tokens._cache.store(CachedToken(access_token="about-to-expire", expires_at=now + 3, issued_at=now - 97))
    client.list_registrations()
    assert admin.stats()["tokens_issued"] == 2
    assert client.tokens.current().access_token != "about-to-expire"


def test_unknown_token_is_replaced_and_the_call_retried_once(client, admin):
    now = time.time()
    client.tokens._cache.store(CachedToken(access_token="never-issued", expires_at=now + 3600, issued_at=now))
    assert client.list_registrations() == []
    assert client.stats.token_refreshes_after_rejection == 1
