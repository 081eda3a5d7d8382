"""The shared decision scenario (conformance/vectors/scenarios/decisions.json):
the same steps give the same decisions in every SDK and in the gateway's own
tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lictor import Gateway
from lictor.openapi import api, models

from .conftest import LiveGateway, Tenant

SCENARIO = Path(__file__).resolve().parents[2] / "conformance" / "vectors" / "scenarios" / "decisions.json"


def test_the_shared_scenario_gives_its_decisions(live_gateway: LiveGateway, fresh_tenant: Tenant) -> None:
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    assert scenario["agent"]["id"] == fresh_tenant.agent_id, "the fixture registers the scenario's agent"
    assert len(scenario["steps"]) >= 8
    with Gateway(live_gateway.url, api_key=fresh_tenant.agent_key) as agent:
        _run_steps(agent, scenario["steps"])


def _run_steps(agent: Gateway, steps: list[dict[str, Any]]) -> None:
    """Declares each step's intent and compares the decision with `want`."""
    for step in steps:
        decision = agent.declare_intent(intent=step["intent"])
        want = step["want"]
        assert decision.verdict.value == want["verdict"], (step["name"], decision.raw)
        assert [r.code for r in decision.reasons] == want["reasons"], (step["name"], decision.raw)
        if "modified_content" in want:
            assert decision.modified_payload is not None, step["name"]
            assert decision.modified_payload["content"] == want["modified_content"], step["name"]


PUBLISHED = SCENARIO.parent / "published.json"


def test_the_published_example_answers_a_decision(live_gateway: LiveGateway, fresh_tenant: Tenant) -> None:
    """The Intent Declaration API's example request, exactly as published
    (structured `payload.content`), and object content redacted by pointer."""
    scenario = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    with Gateway(live_gateway.url, api_key=fresh_tenant.admin_key) as admin:
        agent = models.AgentCreate.from_dict(scenario["agent"])
        api.agents.agent_create.sync(client=admin.api, body=agent)
    # The generated model reads structured content as a JSON value.
    example = models.Intent.from_dict(scenario["steps"][0]["intent"])
    assert isinstance(example.action.payload, models.Payload)
    assert example.action.payload.to_dict()["content"]["message_body"] == "..."
    with Gateway(live_gateway.url, api_key=fresh_tenant.agent_key) as agent_gateway:
        _run_steps(agent_gateway, scenario["steps"])
