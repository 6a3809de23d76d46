"""URLs shown in the UI carry no credentials, whatever the file held."""

from __future__ import annotations

import pytest

from monitoring_pipeline.integrations.urls import public_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://monitor:pa55w0rd@api.example.com:8443/health?api_key=k3y#top", "https://api.example.com:8443/health"),
        ("https://token@api.example.com/v1", "https://api.example.com/v1"),
        ("http://127.0.0.1:8766/stripe", "http://127.0.0.1:8766/stripe"),
        ("https://api.example.com/p@th?x=1", "https://api.example.com/p@th"),
    ],
)
def test_public_url_drops_user_information_and_query(url, shown):
    assert public_url(url) == shown
