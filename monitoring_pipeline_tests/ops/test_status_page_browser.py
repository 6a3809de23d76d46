"""The status page and an integration's page in headless chromium: what a person sees, no console errors, and
the page following the database live (server-sent events, no reload)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from monitoring_pipeline.storage.schema import integration_state_changes, integration_states
from monitoring_pipeline_tests.ops.browser import chromium_page

SCREENSHOTS = os.environ.get("OPS_SCREENSHOTS")  # a folder: keep the screenshots to look at


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def test_the_status_page_shows_states_bars_and_updates_live(ops_server, engine, seeded):
    seeds = seeded[0]
    server = ops_server(event_interval=0.3)
    with chromium_page() as (page, errors):
        page.goto(server.url + "/")
        page.wait_for_selector(f'[data-integration="{seeds.down}"] canvas.bars[data-drawn="90"]')
        assert page.locator("#overall").inner_text().startswith("Outage: 1 integration down")
        assert page.locator(f'[data-integration="{seeds.down}"] .state').inner_text() == "DOWN"
        assert page.locator(f'[data-integration="{seeds.degraded}"] .state').inner_text() == "DEGRADED"
        assert page.locator("canvas.bars").count() == len(seeds.integrations)
        # The bars are drawn: the rightmost (today) pixel of the DOWN integration is red, an old day green.
        colours = page.evaluate("""name => {
            const c = document.querySelector(`[data-integration="${name}"] canvas.bars`);
            const ctx = c.getContext("2d"), r = window.devicePixelRatio || 1;
            const px = (x) => Array.from(ctx.getImageData(Math.floor(x * r), 5, 1, 1).data.slice(0, 3));
            return [px(c.clientWidth - 2), px(3)];
        }""", seeds.down)
        assert colours == [[239, 68, 68], [34, 197, 94]]
        assert "No active alerts." in page.locator("#alerts").inner_text()
        assert "DEMO_RISK" in page.locator("#dnb").inner_text()
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/status_page.png", full_page=True)
        # The DOWN integration recovers in the database: the page follows without reloading.
        page.evaluate("window.notReloaded = true")
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(update(integration_states).where(integration_states.c.integration == seeds.down)
                               .values(state="UP", since=now, cause="2 good probes"))
            connection.execute(integration_state_changes.insert().values(
                integration=seeds.down, changed_at=now, from_state="DOWN", to_state="UP", cause="2 good probes"))
        page.wait_for_function("document.querySelector('#overall').dataset.overall === 'degraded'", timeout=15000)
        assert page.locator(f'[data-integration="{seeds.down}"] .state').inner_text() == "UP"
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("#live-dot").get_attribute("class") == "live-dot"
        assert errors == []


def test_an_integration_page_shows_its_charts_and_incident_history(ops_server, seeded):
    seeds = seeded[0]
    server = ops_server()
    with chromium_page() as (page, errors):
        page.goto(f"{server.url}/integrations/{seeds.down}")
        assert "DOWN" in page.locator("#summary").inner_text()
        assert page.locator("#latency-chart svg path").count() >= 1
        assert page.locator("#availability-chart svg rect").count() == 90
        history = page.locator("#incident-history").inner_text()
        assert "ongoing" in history and "connection refused" in history and "42m" in history
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/integration_page.png", full_page=True)
        assert errors == []


def test_a_token_protected_page_asks_for_the_token_and_keeps_it_out_of_the_address(ops_server):
    from monitoring_pipeline_tests.ops.conftest import API_TOKEN, ops_config

    server = ops_server(ops_config(service={"access": "token"}))
    with chromium_page() as (page, errors):
        response = page.goto(server.url + "/")
        assert response.status == 401 and "Token needed" in page.content()
        page.goto(f"{server.url}/?token={API_TOKEN}")
        assert page.url == server.url + "/"
        assert "Integrations" in page.locator("#integrations h2").inner_text()
        assert API_TOKEN not in page.content()
        errors.clear()  # the first 401 is a console error by design
        page.reload()
        assert errors == []
