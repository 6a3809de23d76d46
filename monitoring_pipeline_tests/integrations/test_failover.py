"""Failover: the active provider by role, health and weight; sticky choices; switch events; the routing JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitoring_pipeline.integrations.failover import Member, decide, switch_event
from monitoring_pipeline.integrations.routing import publish_routing

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def member(name, role="primary", state="UP", breaker="closed", weight=1.0):
    return Member(name, role, weight, state, breaker)


def test_primary_first_while_it_is_routable():
    decision = decide("llm", [member("anthropic", "secondary"), member("openai")], None)
    assert decision.active == "openai"
    assert decision.weights == {"openai": 1.0}


def test_fails_over_to_the_secondary_when_the_primary_is_down_or_its_breaker_open():
    for primary in (member("openai", state="DOWN"), member("openai", breaker="open"),
                    member("openai", breaker="half_open"), member("openai", state="MAINTENANCE")):
        decision = decide("llm", [primary, member("anthropic", "secondary")], "openai")
        assert decision.active == "anthropic"
        assert "openai is" in decision.reason


def test_a_pending_or_degraded_primary_keeps_traffic():
    for state in ("PENDING", "DEGRADED", "UNKNOWN"):
        assert decide("llm", [member("openai", state=state), member("anthropic", "secondary")], "openai").active \
            == "openai"


def test_returns_to_the_primary_once_it_is_routable_again():
    decision = decide("llm", [member("openai"), member("anthropic", "secondary")], "anthropic")
    assert decision.active == "openai"
    assert decision.reason == "openai (primary) is routable again"


def test_health_then_weight_choose_among_peers_and_the_choice_is_sticky():
    members = [member("a", weight=1), member("b", weight=3), member("c", state="DEGRADED", weight=10)]
    first = decide("pay", members, None)
    assert first.active == "b"  # UP beats DEGRADED, then the higher weight
    assert first.weights == {"a": 0.0714, "b": 0.2143, "c": 0.7143}  # traffic shares over routable primaries
    assert decide("pay", members, "a").active == "a"  # a stays while routable: no trading places between peers


def test_no_routable_provider_publishes_none():
    decision = decide("llm", [member("openai", state="DOWN"), member("anthropic", "secondary", breaker="open")],
                      "openai")
    assert decision.active is None and decision.weights == {}
    assert decision.reason.startswith("no routable provider")


def test_switch_events_only_when_the_active_provider_changes():
    decision = decide("llm", [member("openai", state="DOWN"), member("anthropic", "secondary")], "openai")
    event = switch_event("openai", decision, AT, first_decision=False)
    assert (event.group, event.from_provider, event.to_provider) == ("llm", "openai", "anthropic")
    assert switch_event("anthropic", decision, AT, first_decision=False) is None
    assert switch_event(None, decision, AT, first_decision=True) is None  # the very first decision is no switch


def test_routing_file_is_complete_json_written_atomically(tmp_path):
    path = tmp_path / "routing" / "integration_routing.json"
    decision = decide("llm", [member("openai", state="DOWN"), member("anthropic", "secondary")], "openai")
    publish_routing(path, [decision], AT)
    document = json.loads(path.read_text())
    assert document["generated_at"] == AT.isoformat()
    assert document["groups"]["llm"]["active"] == "anthropic"
    assert {m["name"]: m["routable"] for m in document["groups"]["llm"]["members"]} == {
        "openai": False, "anthropic": True}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
