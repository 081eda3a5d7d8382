"""The shared decision scenario (conformance/vectors/scenarios/decisions.json):
the same steps give the same decisions in every SDK and in the gateway's own
tests."""

from __future__ import annotations

import json
from pathlib import Path

from lictor import Gateway

from .conftest import LiveGateway, Tenant

SCENARIO = Path(__file__).resolve().parents[2] / "conformance" / "vectors" / "scenarios" / "decisions.json"


def test_the_shared_scenario_gives_its_decisions(live_gateway: LiveGateway, fresh_tenant: Tenant) -> None:
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    assert scenario["agent"]["id"] == fresh_tenant.agent_id, "the fixture registers the scenario's agent"
    assert len(scenario["steps"]) >= 8
    with Gateway(live_gateway.url, api_key=fresh_tenant.agent_key) as agent:
        for step in scenario["steps"]:
            decision = agent.declare_intent(intent=step["intent"])
            want = step["want"]
            assert decision.verdict.value == want["verdict"], (step["name"], decision.raw)
            assert [r.code for r in decision.reasons] == want["reasons"], (step["name"], decision.raw)
            if "modified_content" in want:
                assert decision.modified_payload is not None, step["name"]
                assert decision.modified_payload["content"] == want["modified_content"], step["name"]
