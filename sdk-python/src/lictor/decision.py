"""The typed results of the hand-written layer: `Decision` and `ToolResult`.

`Decision` is the contract's `Decision` model, generated from
`openapi/lictor.json`, with shortcuts for what an agent asks of it
(`allowed`, `reason_codes`, `approval_id`, `modified_payload`, …);
fields the contract adds later arrive with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._generated import models

# The contract's own enums, generated: `Verdict.BLOCK == "block"`.
from ._generated.models import Reason, StageReport, Verdict

__all__ = ["Decision", "Reason", "StageReport", "ToolResult", "Verdict"]


class Decision(models.Decision):
    """The decision on an intent. A `block` is a Decision, not an exception."""

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
        return [reason.code for reason in self.reasons]

    @property
    def approval_id(self) -> str | None:
        """The approval a human must decide, when the verdict is `escalate`."""
        approval = self.approval
        return approval.approval_id if isinstance(approval, models.ApprovalRef) else None

    @property
    def modified_payload(self) -> dict[str, Any] | None:
        """The payload as the policy modified it (`approve_modified`)."""
        modifications = self.modifications
        if isinstance(modifications, models.Modifications):
            return modifications.modified_payload.to_dict()
        return None

    @property
    def raw(self) -> dict[str, Any]:
        """The decision as JSON."""
        return self.to_dict()


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
