"""Intents, approvals, errors, pagination, exports and tokens against a real gateway."""

from __future__ import annotations

import io
import time

import pytest

from lictor import (
    ApiError,
    AsyncGateway,
    AuditExportError,
    Decision,
    Gateway,
    RetryPolicy,
    Verdict,
    attenuate,
    paginate,
    parse_token,
    verify_audit_export,
)
from lictor.errors import (
    AlreadyExists,
    Forbidden,
    InvalidField,
    NotFound,
    RateLimited,
    Unauthenticated,
    UnknownField,
)
from lictor.openapi import api, models

from .conftest import LiveGateway, Tenant, mint_token

READ = {"action_type": "access", "verb": "read", "target": {"type": "table", "identifier": "orders"}}
REDACT = {
    "action_type": "communicate",
    "verb": "send",
    "target": {"type": "email", "identifier": "customer@example.com", "sensitivity": "confidential"},
    "payload": {
        "content": "Your card 4111 1111 1111 1111 was charged.",
        "estimated_impact": {"reversible": False, "audience_size": 1},
    },
}
PAY = {
    "action_type": "transact",
    "verb": "pay",
    "payload": {"estimated_impact": {"reversible": False, "financial_exposure_usd": 2500}},
}
TRANSFER = {
    "action_type": "transact",
    "verb": "transfer",
    "payload": {"estimated_impact": {"reversible": True, "financial_exposure_usd": 25000}},
}


@pytest.fixture
def agent(live_gateway: LiveGateway, tenant: Tenant):
    with Gateway(live_gateway.url, api_key=tenant.agent_key, agent_id=tenant.agent_id) as gateway:
        yield gateway


def test_one_intent_per_verdict(agent: Gateway) -> None:
    approved = agent.declare_intent(**READ)
    assert isinstance(approved, Decision)
    assert approved.verdict == Verdict.APPROVE and approved.allowed and approved.enforced

    modified = agent.declare_intent(**REDACT)
    assert modified.verdict == Verdict.APPROVE_MODIFIED
    assert modified.modified_payload is not None
    assert "4111 1111 1111 1111" not in modified.modified_payload["content"]
    assert modified.modifications.patch

    escalated = agent.declare_intent(**PAY)
    assert escalated.verdict == Verdict.ESCALATE and escalated.escalated
    assert escalated.approval_id and escalated.approval_id.startswith("apr_")

    blocked = agent.declare_intent(**TRANSFER)
    assert blocked.verdict == "block" and blocked.blocked and not blocked.allowed
    assert "transact_over_limit" in blocked.reason_codes
    assert any(stage.name == "policy" for stage in blocked.stages)
    assert blocked.audit.seq is not None


def test_a_whole_intent_document_and_an_idempotency_key(agent: Gateway, tenant: Tenant) -> None:
    intent = {"agent": {"id": tenant.agent_id, "framework": "pytest"}, "action": {"type": "access", "verb": "list"}}
    first = agent.declare_intent(intent=intent, idempotency_key="sdk-test-key-1")
    again = agent.declare_intent(intent=intent, idempotency_key="sdk-test-key-1")
    assert first.intent_id == again.intent_id
    other = {"agent": {"id": tenant.agent_id}, "action": {"type": "access", "verb": "count"}}
    with pytest.raises(ApiError) as caught:
        agent.declare_intent(intent=other, idempotency_key="sdk-test-key-1")
    assert caught.value.status == 409 and caught.value.error_code == "idempotency_conflict"


def test_http_failures_are_typed_api_errors(live_gateway: LiveGateway, tenant: Tenant, admin: Gateway) -> None:
    with pytest.raises(NotFound) as not_found:
        api.agents.agent_get.sync(client=admin.api, agent_id="nobody")
    error = not_found.value
    assert (error.status, error.error_code) == (404, "not_found")
    assert error.request_id and error.message

    with pytest.raises(InvalidField) as invalid, Gateway(live_gateway.url, api_key=tenant.agent_key) as agent:
        agent.declare_intent("teleport", "go", agent_id=tenant.agent_id)
    assert invalid.value.path == "$.intent.action.type"

    with pytest.raises(UnknownField) as unknown:
        admin.http.post("/v1/agents", json={"id": "x", "name": "x", "owner": "x", "colour": "red"})
    assert unknown.value.path == "$.colour"

    with pytest.raises(Unauthenticated), Gateway(live_gateway.url, api_key="lictor_live_not_a_key") as stranger:
        stranger.declare_intent(**READ, agent_id="billing-bot")

    with pytest.raises(Forbidden), Gateway(live_gateway.url, api_key=tenant.agent_key) as agent:
        api.tenants.tenant_list.sync(client=agent.api)

    with Gateway(live_gateway.url, api_key=live_gateway.admin_key) as root:
        with pytest.raises(AlreadyExists):
            api.tenants.tenant_create.sync(client=root.api, body=models.TenantCreate(id=tenant.id, name="again"))
        with pytest.raises(NotFound) as no_route:
            root.http.get("/v1/no-such-route")
        assert no_route.value.error_code is None  # dropshot's own shape


def test_pagination_follows_next_cursor(admin: Gateway) -> None:
    for i in range(7):
        body = models.AgentCreate.from_dict({"id": f"pager-{i}", "name": f"Pager {i}", "owner": "qa"})
        api.agents.agent_create.sync(client=admin.api, body=body)
    ids = [agent["id"] for agent in admin.paginate("/v1/agents", limit=2)]
    assert [i for i in ids if i.startswith("pager-")] == [f"pager-{i}" for i in range(7)]
    assert len(ids) == len(set(ids))
    generated = [agent.id for agent in paginate(api.agents.agent_list.sync, client=admin.api, limit=3)]
    assert generated == ids


def test_async_intent_is_decided_and_waited_for(agent: Gateway) -> None:
    intent_id = agent.submit_intent(**READ)
    decision = agent.wait_for_decision(intent_id, timeout=30)
    assert decision.intent_id == intent_id and decision.verdict == Verdict.APPROVE


def test_escalated_intent_resumes_once_a_human_approved(agent: Gateway, admin: Gateway) -> None:
    payload = {"estimated_impact": {"reversible": False, "financial_exposure_usd": 3100}}
    escalated = agent.declare_intent("transact", "pay", payload=payload)
    assert escalated.escalated and escalated.approval_id
    assert agent.get_approval(escalated.approval_id)["status"] == "pending"

    decide = models.ApprovalDecide.from_dict({"decision": "approve", "note": "invoice checked"})
    api.approvals.approval_decide.sync(approval_id=escalated.approval_id, client=admin.api, body=decide)
    approval = agent.wait_for_approval(escalated.approval_id, timeout=30)
    assert approval["status"] == "approved"

    resumed = agent.declare_intent("transact", "pay", payload=payload, approval_id=escalated.approval_id)
    assert resumed.allowed and "approved_by_human" in resumed.reason_codes
    used = agent.declare_intent("transact", "pay", payload=payload, approval_id=escalated.approval_id)
    assert used.blocked and "approval_used" in used.reason_codes


def test_attenuated_token_is_narrower_and_enforced(live_gateway: LiveGateway, tenant: Tenant) -> None:
    token = mint_token(live_gateway.url, tenant.admin_key, max_calls=100)
    reader = attenuate(token, action_types=["access"], max_calls=5, expires_in=600)
    parsed = parse_token(reader)
    assert parsed.jti_chain[0] == parse_token(token).jti and len(parsed.jti_chain) == 2
    assert [c["type"] for c in parsed.caveats][-3:] == ["expires", "action_types", "max_calls"]

    with Gateway(live_gateway.url, token=token) as full, Gateway(live_gateway.url, token=reader) as narrow:
        assert narrow.agent_id == "billing-bot"
        assert full.declare_intent(**READ).verdict == Verdict.APPROVE
        assert narrow.declare_intent(**READ).verdict == Verdict.APPROVE
        assert full.declare_intent(**PAY).verdict == Verdict.ESCALATE
        refused = narrow.declare_intent(**PAY)
        assert refused.blocked
        assert any(r.stage == "capability" for r in refused.reasons)

    once = attenuate(token, max_calls=1)
    with Gateway(live_gateway.url, token=once) as single:
        assert single.declare_intent(**READ).allowed
        exhausted = single.declare_intent(**READ)
        assert exhausted.blocked and any(r.stage == "capability" for r in exhausted.reasons)


def test_real_export_verifies_with_the_published_keys(admin: Gateway, agent: Gateway, tmp_path) -> None:
    agent.declare_intent(**READ)
    keys = admin.public_keys()
    assert any(key["purpose"] == "audit-checkpoint" for key in keys["keys"])
    for fmt in ("ndjson", "csv"):
        path = tmp_path / f"export.{fmt}"
        admin.download_audit_export(path, format=fmt)
        report = verify_audit_export(path, keys)
        assert report.entries >= 5 and report.origin.endswith(f"/tenants/{report.tenant}")
        buffer = io.BytesIO()
        admin.download_audit_export(buffer, format=fmt)
        assert verify_audit_export(buffer.getvalue(), keys).root_hash == report.root_hash
    # One changed byte in an entry and the file no longer verifies.
    text = (tmp_path / "export.ndjson").read_text(encoding="utf-8")
    tampered = text.replace('"verdict":"approve"', '"verdict":"block"', 1)
    assert tampered != text
    with pytest.raises(AuditExportError) as caught:
        verify_audit_export(tampered.encode(), keys)
    assert caught.value.reason == "hash_mismatch"


async def test_async_gateway_mirrors_the_sync_one(live_gateway: LiveGateway, tenant: Tenant) -> None:
    async with AsyncGateway(live_gateway.url, api_key=tenant.agent_key, agent_id=tenant.agent_id) as agent:
        decision = await agent.declare_intent(**TRANSFER)
        assert decision.blocked
        intent_id = await agent.submit_intent(**READ)
        assert (await agent.wait_for_decision(intent_id, timeout=30)).allowed
        page = await api.intents.intent_list.asyncio(client=agent.api, limit=1)
        assert isinstance(page, models.IntentPage) and len(page.items) == 1
        with pytest.raises(NotFound):
            await api.intents.intent_decision_get.asyncio(intent_id="int_nope", client=agent.api)


def test_a_rate_limited_intent_is_retried_after_retry_after(live_gateway: LiveGateway, fresh_tenant: Tenant) -> None:
    """The gateway's `429 rate_limited` carries `Retry-After`; the SDK waits
    that long and the retry passes. Without retries it is a typed error."""
    with Gateway(live_gateway.url, api_key=live_gateway.admin_key) as root:
        body = models.TenantUpdate.from_dict({"rate_limits": {"per_key": {"per_minute": 60, "burst": 1}}})
        updated = api.tenants.tenant_update.sync(tenant_id=fresh_tenant.id, client=root.api, body=body)
        assert isinstance(updated, models.Tenant), updated
        assert updated.rate_limits.per_key.burst == 1
    with Gateway(live_gateway.url, api_key=fresh_tenant.agent_key, agent_id=fresh_tenant.agent_id) as agent:
        agent.declare_intent(**READ)
        started = time.monotonic()
        decision = agent.declare_intent(**READ)
        assert decision.verdict == Verdict.APPROVE
        assert time.monotonic() - started >= 0.9
    impatient = RetryPolicy(max_retries=0)
    with Gateway(
        live_gateway.url, api_key=fresh_tenant.agent_key, agent_id=fresh_tenant.agent_id, retry=impatient
    ) as agent:
        with pytest.raises(RateLimited) as refused:
            agent.declare_intent(**READ)
    assert refused.value.status == 429
    assert refused.value.error_code == "rate_limited"
