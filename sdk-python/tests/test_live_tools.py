"""Tool calls through `/v1/mcp` to a real MCP server, and every typed refusal."""

from __future__ import annotations

import pytest

from lictor import (
    ApprovalRequired,
    AsyncGateway,
    BudgetError,
    CapabilityError,
    Gateway,
    IntentError,
    McpError,
    PolicyError,
    ToolCallError,
    attenuate,
)
from lictor.openapi import api, models

from .conftest import LiveGateway, Tenant, mint_token
from .upstream import McpUpstream


@pytest.fixture
def token(live_gateway: LiveGateway, tenant: Tenant) -> str:
    return mint_token(live_gateway.url, tenant.admin_key)


def test_a_governed_call_reaches_the_upstream(live_gateway: LiveGateway, token: str, upstream: McpUpstream) -> None:
    with Gateway(live_gateway.url, token=token) as gateway:
        names = {tool["name"] for tool in gateway.list_tools()}
        assert {"bank.echo", "bank.transfer_funds", "bank.send_email"} <= names
        result = gateway.call_tool("bank.echo", {"text": "hello through the gate"})
        assert result.text == "hello through the gate" and not result.is_error
        assert result.structured_content == {"text": "hello through the gate"}
    assert {"text": "hello through the gate"} in upstream.calls_of("echo")


def test_a_redacted_call_forwards_the_modified_arguments(
    live_gateway: LiveGateway, token: str, upstream: McpUpstream
) -> None:
    with Gateway(live_gateway.url, token=token) as gateway:
        gateway.call_tool(
            "bank.send_email", {"to": "c@example.com", "subject": "receipt", "body": "Card 4111 1111 1111 1111 charged"}
        )
    sent = upstream.calls_of("send_email")[-1]
    assert "4111 1111 1111 1111" not in sent["body"]


def test_a_tool_error_is_a_result_not_a_refusal(live_gateway: LiveGateway, token: str) -> None:
    with Gateway(live_gateway.url, token=token) as gateway:
        result = gateway.call_tool("bank.fail", {})
    assert result.is_error and "quota" in result.text


def test_each_pipeline_check_has_its_error(live_gateway: LiveGateway, tenant: Tenant, upstream: McpUpstream) -> None:
    token = mint_token(live_gateway.url, tenant.admin_key)
    before = len(upstream.calls_of("transfer_funds"))
    echo_only = attenuate(token, tools=["bank.echo"])
    with Gateway(live_gateway.url, token=echo_only) as narrow:
        assert [tool["name"] for tool in narrow.list_tools()] == ["bank.echo"]
        with pytest.raises(CapabilityError) as capability:
            narrow.call_tool("bank.transfer_funds", {"amount_usd": 10, "to": "DE89"})
    assert capability.value.code == -32010 and capability.value.reason == "tool_not_allowed"
    assert capability.value.stage == "capability" and capability.value.intent_id

    with Gateway(live_gateway.url, token=token) as gateway:
        with pytest.raises(IntentError) as intent:
            gateway.call_tool("bank.transfer_funds", {"to": "DE89"})  # no amount for the pointer
        assert intent.value.code == -32011 and intent.value.reason == "invalid_arguments"

        with pytest.raises(PolicyError) as policy:
            gateway.call_tool("bank.transfer_funds", {"amount_usd": 25000, "to": "DE89"})
        assert policy.value.code == -32012 and policy.value.verdict == "block"
        assert policy.value.reason == "transact_over_limit"

        with pytest.raises(ApprovalRequired) as approval:
            gateway.call_tool("bank.transfer_funds", {"amount_usd": 2500, "to": "DE89"})
        assert approval.value.code == -32014 and approval.value.status == "pending"
        assert approval.value.approval_id and approval.value.expires_at

        with pytest.raises(McpError) as unknown:
            gateway.call_tool("bank.teleport", {})
        assert not isinstance(unknown.value, ToolCallError) and unknown.value.code == -32602
    assert len(upstream.calls_of("transfer_funds")) == before, "nothing refused may be forwarded"


def test_budget_exhaustion_is_a_budget_error(live_gateway: LiveGateway, fresh_tenant: Tenant) -> None:
    with Gateway(live_gateway.url, api_key=fresh_tenant.admin_key) as admin:
        body = models.AgentCreate.from_dict(
            {"id": "frugal", "name": "Frugal", "owner": "qa", "budget": {"max_decisions_24h": 1}}
        )
        api.agents.agent_create.sync(client=admin.api, body=body)
    token = mint_token(live_gateway.url, fresh_tenant.admin_key, subject="frugal")
    with Gateway(live_gateway.url, token=token) as gateway:
        gateway.call_tool("bank.echo", {"text": "one"})
        with pytest.raises(BudgetError) as budget:
            gateway.call_tool("bank.echo", {"text": "two"})
    assert budget.value.code == -32013 and budget.value.stage == "budget"


def test_approval_required_waits_for_the_human_and_resumes(
    live_gateway: LiveGateway, tenant: Tenant, upstream: McpUpstream
) -> None:
    token = mint_token(live_gateway.url, tenant.admin_key)
    arguments = {"amount_usd": 1800, "to": "DE89 3704"}
    with (
        Gateway(live_gateway.url, token=token) as gateway,
        Gateway(live_gateway.url, api_key=tenant.admin_key) as admin,
    ):
        with pytest.raises(ApprovalRequired) as caught:
            gateway.call_tool("bank.transfer_funds", arguments)
        approval_id = caught.value.approval_id
        assert approval_id is not None
        pending = [
            a.id
            for a in api.approvals.approval_list.sync(client=admin.api, status=models.ApprovalStatus.PENDING).items
        ]
        assert approval_id in pending
        decide = models.ApprovalDecide.from_dict({"decision": "approve", "note": "checked"})
        api.approvals.approval_decide.sync(approval_id=approval_id, client=admin.api, body=decide)

        result = caught.value.resume(timeout=30)
        assert "transferred" in result.text
        assert upstream.calls_of("transfer_funds")[-1] == arguments

        with pytest.raises(ApprovalRequired) as used:
            gateway.call_tool("bank.transfer_funds", arguments, approval_id=approval_id)
        assert used.value.status == "used" and used.value.reason == "approval_used"


def test_a_rejected_approval_stays_refused(live_gateway: LiveGateway, tenant: Tenant) -> None:
    token = mint_token(live_gateway.url, tenant.admin_key)
    with (
        Gateway(live_gateway.url, token=token) as gateway,
        Gateway(live_gateway.url, api_key=tenant.admin_key) as admin,
    ):
        with pytest.raises(ApprovalRequired) as caught:
            gateway.call_tool("bank.transfer_funds", {"amount_usd": 1700, "to": "FR76"})
        decide = models.ApprovalDecide.from_dict({"decision": "reject", "note": "no"})
        api.approvals.approval_decide.sync(approval_id=caught.value.approval_id, client=admin.api, body=decide)
        assert caught.value.wait(timeout=30)["status"] == "rejected"
        with pytest.raises(ApprovalRequired) as again:
            caught.value.resume(timeout=30)
        assert again.value.status == "rejected" and again.value.reason == "approval_rejected"


def test_an_expired_session_is_reopened(live_gateway: LiveGateway, token: str) -> None:
    with Gateway(live_gateway.url, token=token) as gateway:
        gateway.call_tool("bank.echo", {"text": "a"})
        first = gateway._mcp_session
        gateway.close_mcp_session()
        gateway._mcp_session = first  # a session the gateway no longer knows
        assert gateway.call_tool("bank.echo", {"text": "b"}).text == "b"
        assert gateway._mcp_session not in (None, first)


async def test_async_tool_calls(live_gateway: LiveGateway, tenant: Tenant) -> None:
    token = mint_token(live_gateway.url, tenant.admin_key)
    async with AsyncGateway(live_gateway.url, token=token) as gateway:
        assert (await gateway.call_tool("bank.echo", {"text": "async"})).text == "async"
        with pytest.raises(PolicyError):
            await gateway.call_tool("bank.transfer_funds", {"amount_usd": 50000, "to": "DE89"})
