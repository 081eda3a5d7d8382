//! `/v1/admin/audit`.

use tollgate_api::ApiError;
use tollgate_api::audit::{AuditVerification, AuditVerifyParams};

use super::call::Call;
use crate::audit::verify::verify_chain;
use crate::error::Error;

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
