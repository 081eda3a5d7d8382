//! `/v1/admin/mint`, `/v1/admin/revoke`, `/v1/admin/revocations`.

use lictor_api::ApiError;
use lictor_api::agents::{AgentStatus, TenantScope};
use lictor_api::api_keys::Environment;
use lictor_api::money::UsdAmount;
use lictor_api::tokens::{
    Jti, MintedToken, Revocation, RevocationListParams, RevocationPage, TokenMint, TokenRevoke, ToolPattern,
};

use crate::audit::writer::RevocationJob;
use crate::audit::writer::{AdminJob, AdminOp};
use crate::auth::Principal;
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::Error;
use crate::store::{MintedTokenRow, RevocationRow};
use crate::token::{self, Caveat, Restrictions, TokenHeader};

const LIST: &str = "revocations";

/// Caveats a mint request asks for, in the builder's fixed order (times
/// in Unix seconds, as tokens count them).
fn caveats(
    body: &TokenMint,
    expires_at: i64,
    step_up_at: Option<i64>,
    audience: &str,
) -> Result<Vec<Caveat>, Error> {
    let patterns =
        |list: &Option<Vec<ToolPattern>>| list.as_ref().map(|l| l.iter().map(|p| p.to_string()).collect());
    let restrictions = Restrictions {
        expires: vec![expires_at],
        tools: patterns(&body.tools),
        deny_tools: patterns(&body.deny_tools),
        servers: body.servers.as_ref().map(|s| s.iter().map(|s| s.to_string()).collect()),
        action_types: body.action_types.clone(),
        max_calls: body.max_calls,
        max_usd: body.max_usd.map(UsdAmount::get),
        rate_per_min: body.rate_per_min.map(u64::from),
        step_up_at,
        audience: Some(body.audience.as_deref().unwrap_or(audience).to_string()),
    };
    restrictions
        .to_caveats()
        .map_err(|e| Error::InvalidField { path: format!("$.{}", e.field), message: e.message })
}

/// `POST /v1/admin/mint`.
pub(crate) async fn mint(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<TokenMint, ApiError>,
) -> Result<MintedToken, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    // Tokens act in live.
    principal.require_environment(Environment::Live, "mint capability tokens")?;
    if !(1..=31_536_000).contains(&body.ttl_seconds) {
        return Err(Error::InvalidField {
            path: "$.ttl_seconds".into(),
            message: "`ttl_seconds` must be between 1 and 31536000".into(),
        });
    }
    if body.audience.as_ref().is_some_and(|a| a.is_empty() || a.len() > 256) {
        return Err(Error::InvalidField {
            path: "$.audience".into(),
            message: "`audience` must be 1 to 256 bytes".into(),
        });
    }
    match caller.state.store.get_agent(&tenant, &body.subject).await? {
        Some(agent) if agent.status == AgentStatus::Active => {}
        Some(_) => {
            return Err(Error::InvalidField {
                path: "$.subject".into(),
                message: format!("agent `{}` is suspended", body.subject),
            });
        }
        None => {
            return Err(Error::InvalidField {
                path: "$.subject".into(),
                message: format!("agent `{}` is not registered in tenant `{tenant}`", body.subject),
            });
        }
    }
    let (kid, root_key) = caller
        .state
        .token_keys
        .current()
        .await?
        .ok_or_else(|| Error::Internal("no capability-token signing key".into()))?;
    let issued_at = Timestamp::now();
    let now = issued_at.seconds();
    let expires_at = now + i64::from(body.ttl_seconds);
    // A `step_up` token carries a person's fresh authentication: the
    // minting person's own, checked as a destructive operation's would
    // be, and timed from when they authenticated (a key the tenant
    // exempts: from now).
    let step_up_at = match body.step_up {
        Some(true) => {
            caller.step_up(&principal, &tenant).await?;
            match &principal {
                Principal::Operator(operator) => {
                    Some(operator.sign_in.auth_time.map_or(now, |at| at.timestamp().min(now)))
                }
                _ => Some(now),
            }
        }
        _ => None,
    };
    let caveats = caveats(&body, expires_at, step_up_at, &caller.state.config.audience)?;
    let jti = crate::ids::token_jti();
    let header = TokenHeader::root(
        kid.clone(),
        token::Jti::parse(jti.as_str()).map_err(|e| Error::Internal(e.to_string()))?,
        tenant.clone(),
        body.subject.clone(),
        now,
    );
    let token = token::mint(&root_key, &header, &caveats).map_err(|e| Error::InvalidField {
        path: "$".into(),
        message: format!("the token cannot be minted: {e}"),
    })?;
    let row = MintedTokenRow {
        tenant: tenant.clone(),
        jti: jti.to_string(),
        subject: body.subject.clone(),
        kid: kid.clone(),
        issued_at,
        expires_at: Timestamp::from_seconds(expires_at),
        minted_by: principal.describe(),
    };
    let caveats = serde_json::to_value(&caveats).map_err(|e| Error::Internal(e.to_string()))?;
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::MintToken { row, caveats },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    Ok(MintedToken {
        token,
        jti,
        kid,
        tenant,
        subject: body.subject,
        expires_at: Timestamp::from_seconds(expires_at).to_datetime(),
    })
}

fn view(row: RevocationRow) -> Result<Revocation, Error> {
    Ok(Revocation {
        jti: Jti::parse(row.jti).map_err(|e| Error::Internal(e.to_string()))?,
        tenant: row.tenant,
        reason: row.reason,
        revoked_at: row.revoked_at.to_datetime(),
        revoked_by: row.revoked_by,
    })
}

/// `POST /v1/admin/revoke`.
pub(crate) async fn revoke(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<TokenRevoke, ApiError>,
) -> Result<Revocation, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    principal.require_environment(Environment::Live, "revoke capability tokens")?;
    if body.reason.trim().is_empty() || body.reason.chars().count() > 500 {
        return Err(Error::InvalidField {
            path: "$.reason".into(),
            message: "`reason` must be 1 to 500 characters".into(),
        });
    }
    let row = caller
        .state
        .pipeline
        .writer()
        .append_revocation(RevocationJob {
            revocation: RevocationRow {
                tenant: tenant.clone(),
                jti: body.jti.to_string(),
                reason: body.reason,
                revoked_at: Timestamp::now(),
                revoked_by: principal.describe(),
            },
            person: principal.person(),
        })
        .await?;
    // Requests answered after this one see the revocation: the writer's
    // `Event::Revocation` dropped the cached list before it answered.
    view(row)
}

/// `GET /v1/admin/revocations`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<RevocationListParams, ApiError>,
) -> Result<RevocationPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<(i64, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let rows = caller.state.store.list_revocations(&tenant, after, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| (r.revoked_at, r.jti.clone()));
    Ok(RevocationPage { items: rows.into_iter().map(view).collect::<Result<_, _>>()?, next_cursor })
}
