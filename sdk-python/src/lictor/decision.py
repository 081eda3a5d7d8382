"""The typed results of the hand-written layer: `Decision` and `ToolResult`.

They are read from the JSON the gateway answers (the `Decision` schema of
`openapi/lictor.json`), keeping the whole document in `raw` so nothing the
contract adds later is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The contract's own enum, generated: `Verdict.BLOCK == "block"`.
from ._generated.models import Verdict

__all__ = ["Decision", "Reason", "StageReport", "ToolResult", "Verdict"]


@dataclass(frozen=True)
class Reason:
    """Why a verdict was reached."""

    stage: str
    code: str
    message: str


@dataclass(frozen=True)
class StageReport:
    """One stage of the pipeline as it ran."""

    name: str
    outcome: str
    duration_us: int


@dataclass(frozen=True)
class Decision:
    """The decision on an intent. A `block` is a Decision, not an exception."""

    intent_id: str
    tenant: str
    agent_id: str
    verdict: Verdict
    enforced: bool
    environment: str
    reasons: list[Reason]
    stages: list[StageReport]
    risk_level: str | None
    risk_score: float | None
    bundle_name: str | None
    bundle_hash: str | None
    would_be_verdict: Verdict | None = None
    approval_id: str | None = None
    modified_payload: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None
    audit_seq: int | None = None
    decided_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def from_dict(body: Mapping[str, Any]) -> Decision:
        risk = body.get("risk") or {}
        policy = body.get("policy") or {}
        modifications = body.get("modifications") or {}
        approval = body.get("approval") or {}
        audit = body.get("audit") or {}
        would_be = body.get("would_be_verdict")
        return Decision(
            intent_id=body["intent_id"],
            tenant=body["tenant"],
            agent_id=body["agent_id"],
            verdict=Verdict(body["verdict"]),
            enforced=bool(body["enforced"]),
            environment=body["environment"],
            reasons=[Reason(r["stage"], r["code"], r["message"]) for r in body.get("reasons") or []],
            stages=[StageReport(s["name"], s["outcome"], s.get("duration_us", 0)) for s in body.get("stages") or []],
            risk_level=risk.get("level"),
            risk_score=risk.get("score"),
            bundle_name=policy.get("bundle_name"),
            bundle_hash=policy.get("bundle_hash"),
            would_be_verdict=Verdict(would_be) if would_be else None,
            approval_id=approval.get("approval_id"),
            modified_payload=modifications.get("modified_payload"),
            patch=modifications.get("patch"),
            audit_seq=audit.get("seq"),
            decided_at=body.get("decided_at"),
            raw=dict(body),
        )

    @property
    def allowed(self) -> bool:
        """Whether the agent may go ahead (`approve` or `approve_modified`)."""
        return self.verdict in (Verdict.APPROVE, Verdict.APPROVE_MODIFIED)

    @property
    def blocked(self) -> bool:
        return self.verdict == Verdict.BLOCK

    @property
    def escalated(self) -> bool:
        return self.verdict == Verdict.ESCALATE

    @property
    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]


@dataclass(frozen=True)
class ToolResult:
    """An upstream tool's `CallToolResult`, forwarded by the gateway.

    `is_error` is a tool execution error reported by the tool itself (the
    call was allowed and made); refusals are exceptions instead.
    """

    content: list[dict[str, Any]]
    structured_content: Any
    is_error: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def from_dict(result: Mapping[str, Any]) -> ToolResult:
        return ToolResult(
            content=list(result.get("content") or []),
            structured_content=result.get("structuredContent"),
            is_error=bool(result.get("isError", False)),
            raw=dict(result),
        )

    @property
    def text(self) -> str:
        """The text parts of `content`, joined by newlines."""
        return "\n".join(part.get("text", "") for part in self.content if part.get("type") == "text")
