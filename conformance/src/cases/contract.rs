//! Contract snapshots: the deployment's Decision, error body, JSON-RPC
//! error, audit entry and checkpoint match the shapes shipped with the suite
//! (see [`crate::contract`]).

use crate::contract::Shape;
use crate::{Case, CaseFuture, Context, Group};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "intents.contract_decision",
            group: Group::Intents,
            title: "a redacting Decision matches the contract snapshot",
            disruptive: false,
            operations: &["intent_declare"],
            run: |ctx| shape(ctx, Shape::Decision),
        },
        Case {
            id: "intents.contract_decision_block",
            group: Group::Intents,
            title: "a blocking Decision matches the contract snapshot",
            disruptive: false,
            operations: &["intent_declare"],
            run: |ctx| shape(ctx, Shape::DecisionBlock),
        },
        Case {
            id: "core.contract_error_body",
            group: Group::Core,
            title: "a validation error body matches the contract snapshot (code, JSON path)",
            disruptive: false,
            operations: &["intent_declare"],
            run: |ctx| shape(ctx, Shape::ErrorBody),
        },
        Case {
            id: "mcp.contract_jsonrpc_error",
            group: Group::Mcp,
            title: "a policy denial on /v1/mcp is HTTP 200 with the contract's JSON-RPC error; DELETE ends the session",
            disruptive: false,
            operations: &["mcp_message_send", "mcp_session_delete"],
            run: |ctx| shape(ctx, Shape::JsonRpcError),
        },
        Case {
            id: "audit.contract_entry",
            group: Group::Audit,
            title: "a decision's audit entry matches the contract snapshot",
            disruptive: false,
            operations: &["audit_list"],
            run: |ctx| shape(ctx, Shape::AuditEntry),
        },
        Case {
            id: "audit.contract_checkpoint",
            group: Group::Audit,
            title: "the latest checkpoint matches the contract snapshot",
            disruptive: false,
            operations: &["audit_checkpoint_latest"],
            run: |ctx| shape(ctx, Shape::Checkpoint),
        },
    ]
}

fn shape(ctx: &Context, shape: Shape) -> CaseFuture<'_> {
    Box::pin(shape.check(ctx))
}
