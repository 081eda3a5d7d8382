//! `/v1/admin/audit`.

use tollgate_api::ApiError;
use tollgate_api::audit::{AuditEntryPage, AuditListParams, AuditVerification, AuditVerifyParams};

use super::call::Call;
use crate::audit::verify::verify_chain;
use crate::clock;
use crate::cursor;
use crate::error::Error;
use crate::store::AuditFilter;

const LIST: &str = "audit";

/// `GET /v1/admin/audit`.
pub async fn list(
    call: &Call<'_>,
    params: Result<AuditListParams, ApiError>,
) -> Result<AuditEntryPage, Error> {
    let principal = call.principal().await?;
    principal.require_admin()?;
    let params = params?;
    let tenant = principal.tenant_scope(params.tenant.as_ref(), &call.state.store).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<u64> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let filter = AuditFilter {
        agent_id: params.agent_id,
        verdict: params.verdict,
        stage: params.stage,
        kind: params.kind,
        intent_id: params.intent_id,
        jti: params.jti,
        from: params.from.map(clock::to_micros),
        to: params.to.map(clock::to_micros),
    };
    let rows = call.state.store.list_audit_entries(&tenant, &filter, after.unwrap_or(0), limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| r.record.seq);
    Ok(AuditEntryPage { items: rows.into_iter().map(|r| r.record.to_entry(r.hash)).collect(), next_cursor })
}

/// `GET /v1/admin/audit/verify`.
pub async fn verify(
    call: &Call<'_>,
    params: Result<AuditVerifyParams, ApiError>,
) -> Result<AuditVerification, Error> {
    let principal = call.principal().await?;
    principal.require_admin()?;
    let params = params?;
    let tenant = principal.tenant_scope(params.tenant.as_ref(), &call.state.store).await?;
    Ok(verify_chain(&call.state.store, &tenant).await?)
}
