"""Governing LangChain tools with Lictor (needs the `langchain` extra).

    from lictor.langchain import govern
    governed = govern(search_tool, gateway, action_type="access", verb="search")

`govern` wraps any `langchain_core.tools.BaseTool`: each call first declares
an intent (the tool's input as `payload.arguments`, the tool as the target)
and the wrapped tool runs only on `approve`, or on `approve_modified` with
the arguments the policy rewrote (redactions). A `block` raises
`ToolRefused` (a `ToolException`, so `handle_tool_error=True` hands the
refusal to the model as the tool's answer instead). An `escalate` waits
for a human when `wait_for_approval` is set (seconds), then resumes with
the approval; otherwise it is refused like a block, naming the approval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict

from .decision import Decision
from .gateway import Gateway

__all__ = ["GovernedTool", "ToolRefused", "govern"]


class ToolRefused(ToolException):
    """Lictor did not let the tool run. `decision` says why."""

    def __init__(self, tool: str, decision: Decision) -> None:
        self.decision = decision
        reasons = "; ".join(f"{r.code}: {r.message}" for r in decision.reasons) or "no reason given"
        pending = f" (approval {decision.approval_id} pending)" if decision.approval_id else ""
        super().__init__(f"Lictor refused `{tool}`: {decision.verdict.value}{pending}: {reasons}")


class GovernedTool(BaseTool):
    """A LangChain tool whose every call is decided by Lictor first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    wrapped: BaseTool
    gateway: Gateway
    action_type: str
    verb: str
    sensitivity: str | None = None
    wait_for_approval: float | None = None
    estimated_impact: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None

    def _declare(self, arguments: dict[str, Any], approval_id: str | None = None) -> Decision:
        target: dict[str, Any] = {"type": "tool", "identifier": self.wrapped.name}
        if self.sensitivity:
            target["sensitivity"] = self.sensitivity
        payload: dict[str, Any] = {
            "summary": self.wrapped.description[:200] or self.wrapped.name,
            "arguments": arguments,
        }
        if self.estimated_impact is not None:
            payload["estimated_impact"] = dict(self.estimated_impact(arguments))
        return self.gateway.declare_intent(
            self.action_type,
            self.verb,
            target=target,
            payload=payload,
            framework="langchain",
            approval_id=approval_id,
        )

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("run_manager", None)
        arguments = dict(kwargs) if kwargs else {"input": args[0] if len(args) == 1 else list(args)}
        decision = self._declare(arguments)
        if decision.escalated and decision.approval_id and self.wait_for_approval:
            self.gateway.wait_for_approval(decision.approval_id, timeout=self.wait_for_approval)
            decision = self._declare(arguments, approval_id=decision.approval_id)
        if not decision.allowed:
            raise ToolRefused(self.wrapped.name, decision)
        modified = (decision.modified_payload or {}).get("arguments")
        if isinstance(modified, dict):
            arguments = modified
        tool_input: Any = arguments["input"] if set(arguments) == {"input"} else arguments
        return self.wrapped.invoke(tool_input)


def govern(
    tool: BaseTool,
    gateway: Gateway,
    *,
    action_type: str,
    verb: str,
    sensitivity: str | None = None,
    wait_for_approval: float | None = None,
    estimated_impact: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    handle_tool_error: bool = False,
) -> GovernedTool:
    """Wraps `tool` so that Lictor decides each call (see the module docs).

    `estimated_impact` maps the call's arguments to the intent's
    `estimated_impact` (e.g. `lambda a: {"financial_exposure_usd": a["amount_usd"]}`),
    which policies and risk scoring read. The governed tool keeps the wrapped
    one's name, description and schema."""
    return GovernedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        wrapped=tool,
        gateway=gateway,
        action_type=action_type,
        verb=verb,
        sensitivity=sensitivity,
        wait_for_approval=wait_for_approval,
        estimated_impact=estimated_impact,
        handle_tool_error=handle_tool_error,
    )
