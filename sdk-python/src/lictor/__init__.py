"""Lictor: the Python SDK of the Lictor governance gateway for AI agents.

    from lictor import Gateway
    gateway = Gateway("http://127.0.0.1:8080", token=token)
    result = gateway.call_tool("bank.transfer_funds", {"amount_usd": 250, "to": "DE89…"})

The hand-written layer (`Gateway`, `AsyncGateway`, typed errors, retries,
offline token attenuation, webhook and audit-export verification) sits on a
client generated from `openapi/lictor.json` (`lictor.openapi`).
"""

from ._version import __version__
from .audit import AuditExportError, AuditExportReport, parse_keys, verify_audit_export
from .decision import Decision, Reason, ToolResult, Verdict
from .errors import (
    ApiError,
    ApprovalRequired,
    BudgetError,
    CapabilityError,
    DecisionTimeout,
    IntentError,
    LictorError,
    McpError,
    PolicyError,
    ToolCallError,
    TransportError,
)
from .gateway import AsyncGateway, Gateway, paginate
from .retries import RetryPolicy
from .tokens import CapabilityToken, TokenError, attenuate, parse_token
from .webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "__version__",
    "ApiError",
    "ApprovalRequired",
    "AsyncGateway",
    "AuditExportError",
    "AuditExportReport",
    "BudgetError",
    "CapabilityError",
    "CapabilityToken",
    "Decision",
    "DecisionTimeout",
    "Gateway",
    "IntentError",
    "LictorError",
    "McpError",
    "PolicyError",
    "Reason",
    "RetryPolicy",
    "TokenError",
    "ToolCallError",
    "ToolResult",
    "TransportError",
    "Verdict",
    "WebhookVerificationError",
    "attenuate",
    "paginate",
    "parse_keys",
    "parse_token",
    "verify_audit_export",
    "verify_webhook",
]
