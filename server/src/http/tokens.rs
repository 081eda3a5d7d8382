//! `/v1/admin/mint`, `/v1/admin/revoke`, `/v1/admin/revocations`.

use lictor_api::ApiError;
use lictor_api::agents::{AgentStatus, TenantScope};
use lictor_api::tokens::{
    Jti, MintedToken, Revocation, RevocationListParams, RevocationPage, TokenMint, TokenRevoke,
};

use super::call::Call;
use crate::audit::writer::RevocationJob;
use crate::audit::writer::{AdminJob, AdminOp};
use crate::clock;
use crate::cursor;
use crate::error::Error;
use crate::pipeline::capability::to_cents;
use crate::store::{MintedTokenRow, RevocationRow};
use crate::token::{self, Caveat, TokenHeader};

const LIST: &str = "revocations";

/// Caveats a mint request asks for, in a fixed order.
fn caveats(body: &TokenMint, expires_at: i64, now: i64, audience: &str) -> Result<Vec<Caveat>, Error> {
    let invalid =
        |path: &str, message: &str| Error::InvalidField { path: path.into(), message: message.into() };
    let mut caveats = vec![Caveat::Expires { at: expires_at }];
    let tools = body.tools.as_ref().map(|t| t.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    let deny = body.deny_tools.as_ref().map(|t| t.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    match (tools, deny) {
        (Some(allow), deny) => {
            if allow.is_empty() {
                return Err(invalid("$.tools", "`tools` must name at least one pattern"));
            }
            caveats.push(Caveat::Tools { allow, deny: deny.unwrap_or_default() });
        }
        (None, Some(deny)) if !deny.is_empty() => {
            caveats.push(Caveat::Tools { allow: vec!["*".into()], deny });
        }
        (None, _) => {}
    }
    if let Some(servers) = &body.servers {
        if servers.is_empty() {
            return Err(invalid("$.servers", "`servers` must name at least one upstream"));
        }
        caveats.push(Caveat::Servers { allow: servers.iter().map(|s| s.to_string()).collect() });
    }
    if let Some(types) = &body.action_types {
        if types.is_empty() {
            return Err(invalid("$.action_types", "`action_types` must name at least one type"));
        }
        caveats.push(Caveat::ActionTypes { allow: types.clone() });
    }
    if let Some(n) = body.max_calls {
        if n == 0 {
            return Err(invalid("$.max_calls", "`max_calls` must be at least 1"));
        }
        caveats.push(Caveat::MaxCalls { n });
    }
    if let Some(usd) = body.max_usd {
        caveats.push(Caveat::MaxUsd { cents: to_cents(usd.get()) });
    }
    if let Some(n) = body.rate_per_min {
        if n == 0 {
            return Err(invalid("$.rate_per_min", "`rate_per_min` must be at least 1"));
        }
        caveats.push(Caveat::RatePerMin { n: u64::from(n) });
    }
    if body.step_up == Some(true) {
        caveats.push(Caveat::StepUp { at: now });
    }
    let audience = body.audience.as_deref().unwrap_or(audience);
    caveats.push(Caveat::Audience { aud: audience.to_string() });
    Ok(caveats)
}

/// `POST /v1/admin/mint`.
pub async fn mint(
    call: &Call<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<TokenMint, ApiError>,
) -> Result<MintedToken, Error> {
    let principal = call.principal().await?;
    principal.require_admin()?;
    let (scope, body) = (scope?, body?);
    let tenant = principal.tenant_scope(scope.tenant.as_ref(), &call.state.store).await?;
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
    match call.state.store.get_agent(&tenant, &body.subject).await? {
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
    let (kid, root_key) = call
        .state
        .token_keys
        .current()
        .await?
        .ok_or_else(|| Error::Internal("no capability-token signing key".into()))?;
    let now_micros = clock::now_micros();
    let now = now_micros / 1_000_000;
    let expires_at = now + i64::from(body.ttl_seconds);
    let caveats = caveats(&body, expires_at, now, &call.state.config.audience)?;
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
        issued_at: now_micros,
        expires_at: expires_at * 1_000_000,
        minted_by: principal.describe(),
    };
    let caveats = serde_json::to_value(&caveats).map_err(|e| Error::Internal(e.to_string()))?;
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        op: AdminOp::MintToken { row, caveats },
    };
    call.state.pipeline.writer().append_admin_change(job).await?;
    Ok(MintedToken {
        token,
        jti,
        kid,
        tenant,
        subject: body.subject,
        expires_at: clock::from_micros(expires_at * 1_000_000),
    })
}

fn view(row: RevocationRow) -> Result<Revocation, Error> {
    Ok(Revocation {
        jti: Jti::parse(row.jti).map_err(|e| Error::Internal(e.to_string()))?,
        tenant: row.tenant,
        reason: row.reason,
        revoked_at: clock::from_micros(row.revoked_at),
        revoked_by: row.revoked_by,
    })
}

/// `POST /v1/admin/revoke`.
pub async fn revoke(
    call: &Call<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<TokenRevoke, ApiError>,
) -> Result<Revocation, Error> {
    let principal = call.principal().await?;
    principal.require_admin()?;
    let (scope, body) = (scope?, body?);
    let tenant = principal.tenant_scope(scope.tenant.as_ref(), &call.state.store).await?;
    if body.reason.trim().is_empty() || body.reason.chars().count() > 500 {
        return Err(Error::InvalidField {
            path: "$.reason".into(),
            message: "`reason` must be 1 to 500 characters".into(),
        });
    }
    let row = call
        .state
        .pipeline
        .writer()
        .append_revocation(RevocationJob {
            revocation: RevocationRow {
                tenant: tenant.clone(),
                jti: body.jti.to_string(),
                reason: body.reason,
                revoked_at: clock::now_micros(),
                revoked_by: principal.describe(),
            },
        })
        .await?;
    // Requests answered after this one must see the revocation.
    call.state.pipeline.revocations().invalidate(&tenant);
    view(row)
}

/// `GET /v1/admin/revocations`.
pub async fn list(
    call: &Call<'_>,
    params: Result<RevocationListParams, ApiError>,
) -> Result<RevocationPage, Error> {
    let principal = call.principal().await?;
    principal.require_admin()?;
    let params = params?;
    let tenant = principal.tenant_scope(params.tenant.as_ref(), &call.state.store).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<(i64, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let rows = call.state.store.list_revocations(&tenant, after, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| (r.revoked_at, r.jti.clone()));
    Ok(RevocationPage { items: rows.into_iter().map(view).collect::<Result<_, _>>()?, next_cursor })
}
