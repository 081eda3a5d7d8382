"""A check for `cargo xtask schemathesis`: a request the OpenAPI schema
calls valid must not be refused as invalid (`400`) for a reason the schema
could have stated.

Schemathesis marks each case it generates as positive (valid under the
schema) or negative. A positive case answered `400` fails this check unless
what the gateway refused is on `ALLOWED`: the rules no JSON Schema can
express, because they depend on what the store holds (the chain's head, a
registered agent) or on two fields at once. Each entry names the operation,
the parameter or body path the error points at, and why. `docs/conformance.md`
lists the same rules.
"""

from __future__ import annotations

import schemathesis

# (operationId, parameter or JSONPath, a fragment of the message or "") ->
# why no schema can state the rule.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("audit_verify", "from_seq", ""): "at most the chain's current head",
    ("audit_verify", "to_seq", ""): "between `from_seq` and the chain's current head",
    ("audit_inclusion_proof", "seq", ""): "at most the tree size asked for (or the latest checkpoint's)",
    ("audit_inclusion_proof", "tree_size", ""): "at most the tree's current size; required until a checkpoint exists",
    ("audit_consistency_proof", "from", ""): "at most `to`",
    ("audit_consistency_proof", "to", ""): "at most the tree's current size; required until a checkpoint exists",
    ("policy_dry_run", "$", ""): "exactly one of `draft_id` and `modules`",
    ("policy_dry_run", "$.data", ""): "`data` only with `modules`",
    ("policy_dry_run", "$.history.to", ""): "`to` after `from`",
    ("api_key_create", "$.agent_id", ""): "only for `role: agent`, and the agent must be registered",
    ("token_mint", "$.subject", ""): "the agent must be registered and active",
    ("tool_call", "$.agent_id", ""): "required unless the key is bound to an agent, and then that agent",
    ("tool_call", "$.tool", ""): "must name one upstream's tool unambiguously (what upstreams offer)",
    ("intent_declare_async", "Lictor-Approval-Id", ""): "approvals resume synchronous intents only",
    ("operator_access_put", "$.provider", ""): "an identity provider the deployment configured (its environment)",
    ("operator_sessions_end", "$", ""): "exactly one of `user_name` and `subject`",
    ("upstream_create", "$.url", "not an http or https url"): (
        "a host whose last label is a number must be an IPv4 address (four parts, each at most 255)"
    ),
    ("discovery_ingest", "format", ""): "the format may be named by the Content-Type's `format` parameter instead",
    ("discovery_ingest", "columns", ""): "only with a CSV format (two parameters at once); a CSV row of names",
    ("discovered_agent_update", "$.reason", ""): "`status` and `reason` go together (two fields at once)",
    ("discovered_agent_update", "$.agent_id", ""): "the agent must be registered in the tenant",
    ("discovery_ingest", "source", ""): "the generic format reads through a configured generic source (what the store holds)",
    ("discovery_ingest", "$", "could not be read"): (
        "the records are the vendor's, not a schema's: the body must read as the format's layout "
        "(a closed JSON array, gzip that decompresses)"
    ),
    ("operator_sessions_end", "tenant", ""): "the tenant must have an identity provider (its operator access)",
    ("mcp_message_send", "jsonrpc", ""): (
        "JSON-RPC 2.0's own rules on which members a request, a notification and a response carry: "
        "the contract keeps one message type, so that generated clients have one"
    ),
}
# A tenant's catalogue service: the catalogue's host grammar (lower-case
# names, `*.` and `{label}` templates of at least two labels) and its claims
# (a host, pattern or vendor name belongs to one service) depend on the
# catalogue the gateway ships and the tenant's other services.
for _operation in ("discovery_service_create", "discovery_service_put"):
    for _at in ("$.domains", "$.domains.exact[", "$.domains.wildcard[", "$.url_patterns[", "$.vendor_ids.netskope[",
                "$.vendor_ids.zscaler[", "$.vendor_ids.mdca.names[", "$.vendor_ids.mdca.app_ids[", "$.categories[",
                "$.docs[", "$.id", "$.name", "$.vendor"):
        ALLOWED[(_operation, _at, "")] = "the catalogue's grammar and claims (what it ships and the tenant added)"

# Reports: a range is `from` before `to`, at most 366 days long (two
# parameters at once).
for _report in ("posture_report_get", "access_report_get", "attestation_report_get", "activity_report_get"):
    ALLOWED[(_report, "from", "")] = "`from` before `to` (two parameters at once)"
    ALLOWED[(_report, "to", "")] = "at most 366 days after `from` (two parameters at once)"

# Integrations: one settings type serves both making an integration (its
# secrets required) and changing one (secrets left out are kept), so the
# schema cannot mark the secret fields required.
for _secret in ("token", "secret", "api_key", "client_secret", "secret_access_key", "webhook_url", "routing_key"):
    ALLOWED[("integration_create", f"$.settings.{_secret}", "is required")] = (
        "secrets are required when an integration is made and kept when a change leaves them out"
    )
    ALLOWED[("integration_update", f"$.settings.{_secret}", "is required")] = (
        "a change that leaves a secret out keeps the stored one: required only when there is none to keep "
        "(what the store holds)"
    )
for _operation in ("integration_create", "integration_update"):
    ALLOWED[(_operation, "$.settings.access_key_id", "is required with")] = "two fields at once"
    for _field in ("url", "endpoint", "authority", "webhook_url"):
        ALLOWED[(_operation, f"$.settings.{_field}", "not a URL")] = (
            "a host written as an IPv4 address must be one (four parts, each at most 255)"
        )
ALLOWED[("integration_update", "$.settings.kind", "cannot change")] = "depends on the stored integration"
for _operation in ("integration_create", "integration_update"):
    for _field in ("url", "endpoint", "authority", "webhook_url"):
        ALLOWED[(_operation, f"$.settings.{_field}", "public addresses only")] = (
            "depends on the gateway's setting: tenants' integrations reach public addresses only unless allowed"
        )

# A bundle's module names, and that not all modules are tests: OpenAPI 3.0
# cannot constrain a map's keys.
for _operation in ("policy_draft_create", "policy_draft_update", "policy_dry_run"):
    ALLOWED[(_operation, "$.modules", "every module is a test module")] = "not all modules may be tests"
    ALLOWED[(_operation, "$.modules[", "is not a module name")] = "module names: OpenAPI 3.0 has no key patterns"

# Codes that mean the same on every operation.
ALLOWED_CODES: dict[str, str] = {
    "invalid_cursor": "a cursor is opaque: only one this list issued is valid",
}

# Codes that are never about the request's shape.
NOT_SHAPE = {"policy_compile_error"}


@schemathesis.check
def schema_valid_requests_are_accepted(ctx, response, case):
    """A schema-valid request is not refused for its shape."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("error_code")
    where = body.get("parameter") or body.get("path")
    message = body.get("message") or response.text
    rpc = body.get("error")
    if code is None and body.get("jsonrpc") == "2.0" and isinstance(rpc, dict):
        # `/v1/mcp` answers a message that is not valid JSON-RPC in JSON-RPC.
        code, where, message = f"jsonrpc {rpc.get('code')}", "jsonrpc", str(rpc.get("message"))
    if code in NOT_SHAPE:
        return None
    operation = case.operation.definition.raw.get("operationId", case.operation.label)
    if code in ALLOWED_CODES:
        return None
    if any(
        op == operation and where is not None and (where == at or (at.endswith("[") and where.startswith(at)))
        and fragment in message
        for (op, at, fragment) in ALLOWED
    ):
        return None
    raise AssertionError(
        f"a schema-valid request was refused: `{code}` at `{where}`: {message}\n"
        "State the rule in the schema (schemars attributes in lictor-api), "
        "or, if no schema can, add it to ALLOWED in conformance/schemathesis/hooks.py with the reason."
    )
