"""`lictor.langchain.govern` with the real langchain-core, against a live gateway."""

from __future__ import annotations

import threading

import pytest
from langchain_core.tools import tool

from lictor import Gateway
from lictor.langchain import GovernedTool, ToolRefused, govern
from lictor.openapi import api, models

from .conftest import LiveGateway, Tenant

RUNS: list[dict] = []


@tool
def pay_invoice(amount_usd: float, iban: str) -> str:
    """Pays an invoice by bank transfer."""
    RUNS.append({"amount_usd": amount_usd, "iban": iban})
    return f"paid {amount_usd} to {iban}"


@tool
def email_customer(content: str) -> str:
    """Emails the customer."""
    RUNS.append({"content": content})
    return f"sent: {content}"


def exposure(arguments: dict) -> dict:
    return {"reversible": False, "financial_exposure_usd": arguments["amount_usd"]}


@pytest.fixture
def agent(live_gateway: LiveGateway, tenant: Tenant):
    with Gateway(live_gateway.url, api_key=tenant.agent_key, agent_id=tenant.agent_id) as gateway:
        yield gateway


def test_an_allowed_call_runs_the_tool(agent: Gateway) -> None:
    governed = govern(email_customer, agent, action_type="access", verb="read")
    assert isinstance(governed, GovernedTool) and governed.name == "email_customer"
    assert governed.args == email_customer.args
    assert governed.invoke({"content": "hello"}) == "sent: hello"
    assert RUNS[-1] == {"content": "hello"}


def test_a_blocked_call_raises_and_never_runs_the_tool(agent: Gateway) -> None:
    governed = govern(pay_invoice, agent, action_type="transact", verb="transfer", estimated_impact=exposure)
    runs = len(RUNS)
    with pytest.raises(ToolRefused) as refused:
        governed.invoke({"amount_usd": 25000, "iban": "DE89"})
    assert refused.value.decision.blocked and "transact_over_limit" in str(refused.value)
    assert len(RUNS) == runs


def test_the_refusal_can_be_the_models_observation(agent: Gateway) -> None:
    governed = govern(
        pay_invoice, agent, action_type="transact", verb="transfer", estimated_impact=exposure, handle_tool_error=True
    )
    runs = len(RUNS)
    answer = governed.invoke({"amount_usd": 30000, "iban": "DE89"})
    assert answer.startswith("Lictor refused `pay_invoice`: block") and len(RUNS) == runs


def test_an_escalation_without_waiting_is_refused(agent: Gateway) -> None:
    governed = govern(pay_invoice, agent, action_type="transact", verb="pay", estimated_impact=exposure)
    with pytest.raises(ToolRefused) as refused:
        governed.invoke({"amount_usd": 2600, "iban": "DE89"})
    assert refused.value.decision.escalated and "pending" in str(refused.value)


def test_redactions_reach_the_tool(agent: Gateway) -> None:
    governed = govern(email_customer, agent, action_type="communicate", verb="send")
    answer = governed.invoke({"content": "Your card 4111 1111 1111 1111 was charged."})
    assert "4111 1111 1111 1111" not in answer
    assert "4111 1111 1111 1111" not in RUNS[-1]["content"]


def test_escalations_wait_for_the_human(agent: Gateway, admin: Gateway) -> None:
    governed = govern(
        pay_invoice, agent, action_type="transact", verb="pay", estimated_impact=exposure, wait_for_approval=30
    )

    def approve_when_pending() -> None:
        for _ in range(200):
            page = api.approvals.approval_list.sync(client=admin.api, status=models.ApprovalStatus.PENDING)
            for approval in page.items:
                if approval.verb == "pay" and "4200" in str(approval.to_dict()):
                    decide = models.ApprovalDecide.from_dict({"decision": "approve"})
                    api.approvals.approval_decide.sync(approval_id=approval.id, client=admin.api, body=decide)
                    return
            threading.Event().wait(0.1)

    helper = threading.Thread(target=approve_when_pending)
    helper.start()
    try:
        assert governed.invoke({"amount_usd": 4200, "iban": "DE89"}) == "paid 4200.0 to DE89"
    finally:
        helper.join()
