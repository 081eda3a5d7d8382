//! People: who the credentials are, a tenant's operator access, its SCIM
//! token, its operators and their sessions, and signing in and out.

use std::collections::BTreeMap;

use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::api_keys::Role;
use lictor_api::ids::TenantId;
use lictor_api::operators::{
    CallbackParams, CredentialKind, LoginParams, OperatorAccess, OperatorAccessWrite, OperatorList,
    OperatorListParams, OperatorSessionsEnd, OperatorView, ProviderInfo, ProviderList, ScimToken,
    SessionInfo, SessionsEnded, StepUpPolicy, Whoami,
};
use lictor_api::tenants::TenantPath;

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome, SessionsOf};
use crate::auth::{Principal, not_found_tenant};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::credentials;
use crate::error::Error;
use crate::operators::grants::{AccessSettings, username_key};
use crate::operators::oidc::{Expect, Provider};
use crate::operators::{Presented, person_identity, person_of, sessions, sign_in_of};
use crate::store::{LoginRow, OperatorAccessRow, SessionRow};

/// The most role mappings a tenant keeps.
const MAX_MAPPINGS: usize = 100;

/// The most sign-ins under way at once (each is a row until it finishes or
/// its 10 minutes pass): past it, `429 rate_limited`.
const MAX_PENDING_LOGINS: u32 = 10_000;

/// The most SCIM users an operator list reads.
const MAX_LISTED: u32 = 10_000;

/// `GET /v1/whoami`.
pub(crate) async fn whoami(caller: &Caller<'_>) -> Result<Whoami, Error> {
    let principal = caller.principal().await?;
    let store = &caller.state.store;
    let mut answer = Whoami {
        credential: CredentialKind::SuperadminKey,
        principal: principal.describe(),
        person: principal.person(),
        superadmin: principal.is_superadmin(),
        grants: Vec::new(),
        environment: None,
        sign_in: None,
        session: None,
    };
    match &principal {
        Principal::Superadmin => {}
        Principal::Key(key) => {
            answer.credential = CredentialKind::ApiKey;
            answer.environment = Some(key.environment);
            answer.grants = vec![lictor_api::operators::Grant { tenant: key.tenant.clone(), role: key.role }];
        }
        Principal::Token(token) => {
            answer.credential = CredentialKind::CapabilityToken;
            answer.environment = Some(lictor_api::api_keys::Environment::Live);
            answer.grants = vec![lictor_api::operators::Grant {
                tenant: token.header().tenant.clone(),
                role: Role::Agent,
            }];
        }
        Principal::Operator(operator) => {
            answer.environment = Some(lictor_api::api_keys::Environment::Live);
            answer.grants = operator.grants.clone();
            answer.sign_in = Some(operator.sign_in.clone());
            match &operator.presented {
                Presented::Bearer { .. } => answer.credential = CredentialKind::BearerToken,
                Presented::Session { id, csrf } => {
                    answer.credential = CredentialKind::Session;
                    if let Some(row) = store.operator_session(id).await? {
                        answer.session = Some(SessionInfo {
                            id: id.clone(),
                            created_at: row.created_at.to_datetime(),
                            expires_at: row.expires_at.to_datetime(),
                            csrf_token: csrf.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(answer)
}

/// A tenant's operator access as the API shows it (the defaults when it
/// has none).
fn access_view(tenant: &TenantId, row: Option<&OperatorAccessRow>) -> Result<OperatorAccess, Error> {
    let settings = row.map(AccessSettings::of).transpose()?.unwrap_or_default();
    Ok(OperatorAccess {
        tenant: tenant.clone(),
        provider: row
            .and_then(|r| r.provider.as_deref())
            .map(lictor_api::operators::ProviderName::parse)
            .transpose()
            .map_err(|e| Error::Internal(format!("stored provider name: {e}")))?,
        role_mappings: settings.role_mappings,
        step_up: settings.step_up,
        scim: row.is_some_and(|r| r.scim),
        updated_at: row.map(|r| r.updated_at.to_datetime()),
    })
}

/// The tenant's step-up policy (the default when it set none).
pub(crate) async fn step_up_policy(caller: &Caller<'_>, tenant: &TenantId) -> Result<StepUpPolicy, Error> {
    let row = caller.state.store.operator_access(tenant).await?;
    Ok(row.as_ref().map(AccessSettings::of).transpose()?.unwrap_or_default().step_up)
}

/// `GET /v1/admin/tenants/{tenant_id}/operator-access`.
pub(crate) async fn access_get(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
) -> Result<OperatorAccess, Error> {
    let principal = caller.principal().await?;
    let path = path?;
    caller.visible(&principal, &path.tenant_id).await?;
    existing_tenant(caller, &path.tenant_id).await?;
    let row = caller.state.store.operator_access(&path.tenant_id).await?;
    access_view(&path.tenant_id, row.as_ref())
}

async fn existing_tenant(caller: &Caller<'_>, tenant: &TenantId) -> Result<(), Error> {
    match caller.state.store.get_tenant(tenant).await? {
        Some(_) => Ok(()),
        None => Err(not_found_tenant(tenant)),
    }
}

fn invalid(path: String, message: impl Into<String>) -> Error {
    Error::InvalidField { path, message: message.into() }
}

/// Checks a new operator access beyond its types.
fn check_access(caller: &Caller<'_>, body: &OperatorAccessWrite) -> Result<(), Error> {
    if let Some(provider) = &body.provider
        && caller.state.auth.operators().providers.named(provider.as_str()).is_none()
    {
        let known: Vec<&str> =
            caller.state.auth.operators().providers.all().iter().map(|p| p.name.as_str()).collect();
        return Err(invalid(
            "$.provider".into(),
            format!(
                "`{provider}` is not an identity provider of this deployment ({})",
                if known.is_empty() {
                    "it has none".to_string()
                } else {
                    format!("it has {}", known.join(", "))
                }
            ),
        ));
    }
    if body.role_mappings.len() > MAX_MAPPINGS {
        return Err(invalid("$.role_mappings".into(), format!("at most {MAX_MAPPINGS} role mappings")));
    }
    let step_up = &body.step_up.clone().unwrap_or_default();
    if !(30..=86_400).contains(&step_up.max_age_seconds) {
        return Err(invalid(
            "$.step_up.max_age_seconds".into(),
            "`max_age_seconds` must be between 30 and 86400",
        ));
    }
    for (name, values) in [("acr_values", &step_up.acr_values), ("amr_values", &step_up.amr_values)] {
        if values.len() > 16 {
            return Err(invalid(format!("$.step_up.{name}"), format!("at most 16 `{name}`")));
        }
    }
    Ok(())
}

/// `PUT /v1/admin/tenants/{tenant_id}/operator-access`.
pub(crate) async fn access_put(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
    body: Result<OperatorAccessWrite, ApiError>,
) -> Result<OperatorAccess, Error> {
    let principal = caller.principal().await?;
    let (path, body) = (path?, body?);
    caller.visible(&principal, &path.tenant_id).await?;
    existing_tenant(caller, &path.tenant_id).await?;
    check_access(caller, &body)?;
    let settings =
        AccessSettings { role_mappings: body.role_mappings, step_up: body.step_up.unwrap_or_default() };
    let job = AdminJob {
        tenant: path.tenant_id.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::SetOperatorAccess {
            provider: body.provider.map(|p| p.to_string()),
            settings: serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?,
        },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    let row = caller.state.store.operator_access(&path.tenant_id).await?;
    access_view(&path.tenant_id, row.as_ref())
}

/// `POST /v1/admin/tenants/{tenant_id}/scim-token`.
pub(crate) async fn scim_token(
    caller: &Caller<'_>,
    path: Result<TenantPath, ApiError>,
) -> Result<ScimToken, Error> {
    let principal = caller.principal().await?;
    let path = path?;
    caller.visible(&principal, &path.tenant_id).await?;
    existing_tenant(caller, &path.tenant_id).await?;
    let issued = credentials::new_scim_token();
    let job = AdminJob {
        tenant: path.tenant_id.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::RotateScimToken { hash: issued.hash },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    let base = caller.state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    Ok(ScimToken {
        tenant: path.tenant_id,
        token: issued.key,
        base_url: format!("{base}/scim/v2"),
        created_at: Timestamp::now().to_datetime(),
    })
}

/// The roles `groups` hold under `settings`.
fn roles_of(settings: &AccessSettings, groups: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = settings
        .role_mappings
        .iter()
        .filter(|m| groups.iter().any(|g| g == m.group.as_str()))
        .map(|m| Role::from(m.role))
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// `GET /v1/admin/operators`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<OperatorListParams, ApiError>,
) -> Result<OperatorList, Error> {
    let (_, tenant, _) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let store = &caller.state.store;
    let Some(row) = store.operator_access(&tenant).await? else {
        return Ok(OperatorList { tenant, items: Vec::new() });
    };
    let settings = AccessSettings::of(&row)?;
    let mut items = Vec::new();
    if row.scim {
        for user in store.scim_users(&tenant, MAX_LISTED).await? {
            let groups: Vec<String> =
                store.scim_groups_of(&tenant, &user.id).await?.into_iter().map(|(_, name)| name).collect();
            let sessions = match &row.provider {
                Some(provider) => {
                    store.sessions_by_username(provider, &username_key(&user.user_name)).await?
                }
                None => Vec::new(),
            };
            let now = Timestamp::now();
            let resource: serde_json::Value = serde_json::from_str(&user.resource).unwrap_or_default();
            items.push(OperatorView {
                roles: if user.active { roles_of(&settings, &groups) } else { Vec::new() },
                user_name: Some(user.user_name.clone()),
                name: resource.get("displayName").and_then(|n| n.as_str()).map(str::to_string),
                scim_id: Some(user.id.clone()),
                active: user.active,
                groups,
                sessions: sessions.iter().filter(|s| s.expires_at > now).count() as u64,
            });
        }
    } else if let Some(provider) = &row.provider {
        // Without SCIM, the people known are those signed in now.
        let now = Timestamp::now();
        let mut people: BTreeMap<(String, String), OperatorView> = BTreeMap::new();
        for session in store.live_sessions_of_provider(provider, now).await? {
            let (person, groups, _) = crate::operators::session_facts(&session)?;
            let roles = roles_of(&settings, &groups);
            if roles.is_empty() {
                continue;
            }
            let view =
                people.entry((session.issuer.clone(), session.subject.clone())).or_insert(OperatorView {
                    user_name: person.username.clone(),
                    name: person.name.clone(),
                    scim_id: None,
                    active: true,
                    groups,
                    roles,
                    sessions: 0,
                });
            view.sessions += 1;
        }
        items = people.into_values().collect();
    }
    items.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Ok(OperatorList { tenant, items })
}

/// `POST /v1/admin/operators/end-sessions`.
pub(crate) async fn end_sessions(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<OperatorSessionsEnd, ApiError>,
) -> Result<SessionsEnded, Error> {
    let (principal, tenant, (_, body)) = caller.admin((scope, body), |(s, _)| s.tenant.as_ref()).await?;
    let store = &caller.state.store;
    let row = store.operator_access(&tenant).await?;
    let Some(provider) = row.as_ref().and_then(|r| r.provider.clone()) else {
        return Err(Error::InvalidParameter {
            parameter: "tenant".into(),
            message: format!("tenant `{tenant}` has no identity provider: nobody signs in to it"),
        });
    };
    let settings = row.as_ref().map(AccessSettings::of).transpose()?.unwrap_or_default();
    let now = Timestamp::now();
    let holds_role = |session: &SessionRow| {
        crate::operators::session_facts(session)
            .map(|(_, groups, _)| !roles_of(&settings, &groups).is_empty())
    };
    // The person is cut off in this tenant whoever they are; their
    // sessions (which span tenants) end only when they are the tenant's:
    // a SCIM user of it, or someone whose session's groups hold a role in it.
    let who = match (body.user_name, body.subject) {
        (Some(name), None) => {
            let key = username_key(name.as_str());
            let mut end = store.scim_user_by_name(&tenant, &key).await?.is_some();
            for session in store.sessions_by_username(&provider, &key).await? {
                end = end || holds_role(&session)?;
            }
            SessionsOf::UserName { provider: provider.clone(), key, end }
        }
        (None, Some(subject)) => {
            let issuer = caller
                .state
                .auth
                .operators()
                .providers
                .named(&provider)
                .map(|p| p.settings.issuer.clone())
                .ok_or_else(|| Error::Internal(format!("provider `{provider}` is no longer configured")))?;
            let mut end = false;
            for session in store.live_sessions_of_provider(&provider, now).await? {
                if session.subject == subject.as_str() {
                    end = end || holds_role(&session)?;
                }
            }
            SessionsOf::Person { issuer, subject: subject.to_string(), end }
        }
        _ => {
            return Err(invalid("$".into(), "name the person with exactly one of `user_name` and `subject`"));
        }
    };
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::EndOperatorSessions(who),
    };
    let ended = match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Counted(count, _) => count,
        _ => 0,
    };
    Ok(SessionsEnded { ended })
}

/// `GET /v1/auth/providers`.
pub(crate) fn providers(caller: &Caller<'_>) -> ProviderList {
    let items = caller
        .state
        .auth
        .operators()
        .providers
        .all()
        .iter()
        .map(|p| ProviderInfo {
            name: p.name.clone(),
            display_name: p.settings.display_name.clone().unwrap_or_else(|| p.name.to_string()),
            login_url: format!("/v1/auth/login?provider={}", p.name),
        })
        .collect();
    ProviderList { items }
}

/// A browser redirect, with the cookies it sets.
pub(crate) struct Redirect {
    /// Where to.
    pub location: String,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

fn secure(caller: &Caller<'_>) -> bool {
    caller.state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
}

/// The gateway's redirect URI at providers.
fn redirect_uri(caller: &Caller<'_>) -> Result<String, Error> {
    let base = caller.state.config.public_url.as_deref().ok_or_else(|| {
        Error::Internal(
            "signing in needs the gateway's public URL (`--public-url`), for the provider's redirect".into(),
        )
    })?;
    Ok(format!("{}/v1/auth/callback", base.trim_end_matches('/')))
}

/// Where a sign-in may send the browser back: a path of this gateway.
fn check_return_to(value: Option<String>) -> Result<String, Error> {
    let value = value.unwrap_or_else(|| "/v1/whoami".into());
    let local = value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && value.len() <= 2048
        && !value.chars().any(char::is_control);
    if !local {
        return Err(Error::InvalidParameter {
            parameter: "return_to".into(),
            message: "`return_to` must be a path of this gateway (starting with one `/`)".into(),
        });
    }
    Ok(value)
}

fn provider_of<'a>(
    caller: &'a Caller<'_>,
    name: Option<&str>,
) -> Result<&'a std::sync::Arc<Provider>, Error> {
    let providers = &caller.state.auth.operators().providers;
    match name {
        Some(name) => providers.named(name).ok_or_else(|| Error::InvalidParameter {
            parameter: "provider".into(),
            message: format!("`{name}` is not an identity provider of this deployment"),
        }),
        None => match providers.all() {
            [one] => Ok(one),
            [] => Err(Error::InvalidParameter {
                parameter: "provider".into(),
                message: "this deployment has no identity provider: people cannot sign in".into(),
            }),
            _ => Err(Error::InvalidParameter {
                parameter: "provider".into(),
                message: "this deployment has several identity providers: name one with `provider`".into(),
            }),
        },
    }
}

/// `GET /v1/auth/login`.
pub(crate) async fn login(
    caller: &Caller<'_>,
    params: Result<LoginParams, ApiError>,
) -> Result<Redirect, Error> {
    let params = params?;
    let provider = provider_of(caller, params.provider.as_ref().map(|p| p.as_str()))?;
    let return_to = check_return_to(params.return_to)?;
    if let Some(acr) = &params.acr_values
        && (acr.len() > 1024 || acr.chars().any(char::is_control))
    {
        return Err(Error::InvalidParameter {
            parameter: "acr_values".into(),
            message: "`acr_values` is too long or has control characters".into(),
        });
    }
    if params.login_hint.as_ref().is_some_and(|h| h.len() > 256 || h.chars().any(char::is_control)) {
        return Err(Error::InvalidParameter {
            parameter: "login_hint".into(),
            message: "`login_hint` is too long or has control characters".into(),
        });
    }
    let now = Timestamp::now();
    if caller.state.store.pending_logins(now).await? >= u64::from(MAX_PENDING_LOGINS) {
        // Sign-ins are unauthenticated: their rows are bounded.
        let bucket = crate::rate_limit::BucketState {
            limit: lictor_api::tenants::RateLimit {
                per_minute: MAX_PENDING_LOGINS / 10,
                burst: MAX_PENDING_LOGINS,
            },
            left: 0.0,
        };
        return Err(Error::RateLimited(Box::new(crate::rate_limit::RateState {
            buckets: [bucket, bucket],
            cost: 1,
            granted: false,
        })));
    }
    let metadata = provider.metadata().await?;
    let (state, nonce, verifier, binding) = (
        sessions::random_token(),
        sessions::random_token(),
        sessions::random_token(),
        sessions::random_token(),
    );
    let now = Timestamp::now();
    caller
        .state
        .store
        .insert_login(&LoginRow {
            state_hash: sessions::digest(&state),
            provider: provider.name.to_string(),
            nonce: nonce.clone(),
            verifier: verifier.clone(),
            binding_hash: sessions::digest(&binding),
            return_to,
            max_age: params.max_age.map(i64::from),
            acr_values: params.acr_values.clone(),
            created_at: now,
            expires_at: Timestamp::from_micros(now.micros() + sessions::LOGIN_TTL_SECONDS * 1_000_000),
        })
        .await?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.settings.client_id)
        .append_pair("redirect_uri", &redirect_uri(caller)?)
        .append_pair("scope", &provider.settings.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &sessions::pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    if let Some(max_age) = params.max_age {
        query.append_pair("max_age", &max_age.to_string());
        if max_age == 0 {
            query.append_pair("prompt", "login");
        }
    }
    if let Some(acr) = &params.acr_values {
        query.append_pair("acr_values", acr);
    }
    if let Some(hint) = &params.login_hint {
        query.append_pair("login_hint", hint);
    }
    let separator = if metadata.authorization_endpoint.contains('?') { '&' } else { '?' };
    Ok(Redirect {
        location: format!("{}{separator}{}", metadata.authorization_endpoint, query.finish()),
        cookies: vec![sessions::set_cookie(
            sessions::LOGIN_COOKIE,
            &binding,
            "/v1/auth/callback",
            sessions::LOGIN_TTL_SECONDS,
            secure(caller),
        )],
    })
}

/// What a token endpoint answers (RFC 6749, 5.1).
#[derive(serde::Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// `GET /v1/auth/callback`.
pub(crate) async fn callback(
    caller: &Caller<'_>,
    params: Result<CallbackParams, ApiError>,
) -> Result<Redirect, Error> {
    let params = params?;
    let refused = |message: String| Error::Unauthenticated(format!("sign-in failed: {message}"));
    let state =
        params.state.as_deref().ok_or_else(|| refused("the provider's answer has no `state`".into()))?;
    let login = caller
        .state
        .store
        .take_login(&sessions::digest(state))
        .await?
        .ok_or_else(|| refused("unknown or used sign-in (start again)".into()))?;
    let now = Timestamp::now();
    if login.expires_at <= now {
        return Err(refused("the sign-in took too long (start again)".into()));
    }
    // The browser finishing the sign-in is the one that started it.
    let binding = caller
        .headers()
        .get(http::header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| sessions::cookie(c, sessions::LOGIN_COOKIE));
    if binding.map(sessions::digest).as_deref() != Some(login.binding_hash.as_str()) {
        return Err(refused("this browser did not start the sign-in".into()));
    }
    let provider = provider_of(caller, Some(&login.provider))?;
    let outcome = exchange(caller, provider, login, params, now).await;
    let result = match &outcome {
        Ok(_) => "ok",
        Err(Error::Upstream(_) | Error::Store(_)) => "error",
        Err(_) => "refused",
    };
    caller.state.metrics.sign_in(provider.name.as_str(), result);
    outcome
}

/// The sign-in's code exchanged at `provider`, its ID token checked, the
/// session made.
async fn exchange(
    caller: &Caller<'_>,
    provider: &Provider,
    login: LoginRow,
    params: CallbackParams,
    now: Timestamp,
) -> Result<Redirect, Error> {
    let refused = |message: String| Error::Unauthenticated(format!("sign-in failed: {message}"));
    if let Some(error) = &params.error {
        let description = params.error_description.as_deref().unwrap_or_default();
        return Err(refused(format!(
            "the provider answered `{}` {}",
            crate::logging::escape(error),
            crate::logging::escape(description)
        )));
    }
    // RFC 9207: the answer comes from the provider asked.
    if let Some(iss) = &params.iss
        && *iss != provider.settings.issuer
    {
        return Err(refused(format!("the answer names the issuer `{}`", crate::logging::escape(iss))));
    }
    let code = params.code.as_deref().ok_or_else(|| refused("the provider's answer has no `code`".into()))?;
    let metadata = provider.metadata().await?;
    let redirect = redirect_uri(caller)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", login.verifier.as_str()),
    ];
    if provider.settings.client_secret.is_none() {
        form.push(("client_id", provider.settings.client_id.as_str()));
    }
    let http = caller.state.auth.operators().http();
    let mut request = http.post(&metadata.token_endpoint).form(&form);
    if let Some(secret) = &provider.settings.client_secret {
        // RFC 6749, 2.3.1: each part form-encoded first.
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        request = request.basic_auth(encode(&provider.settings.client_id), Some(encode(secret)));
    }
    let response =
        request.send().await.map_err(|e| Error::Upstream(format!("the provider's token endpoint: {e}")))?;
    let status = response.status();
    let bytes =
        response.bytes().await.map_err(|e| Error::Upstream(format!("the provider's token endpoint: {e}")))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        return Err(refused(format!(
            "the provider refused the code ({status}): {}",
            crate::logging::escape(&text)
        )));
    }
    let answer: TokenAnswer =
        serde_json::from_slice(&bytes).map_err(|e| refused(format!("the token endpoint's answer: {e}")))?;
    let id_token = answer.id_token.ok_or_else(|| refused("the provider sent no ID token".into()))?;
    let claims = provider.verify(&id_token, Expect::SignIn { nonce: &login.nonce }).await?;
    // What the sign-in asked for, it got.
    if let Some(max_age) = login.max_age {
        let fresh = claims.auth_time.is_some_and(|at| now.seconds() - at <= max_age + 60);
        if !fresh {
            return Err(refused(
                "the provider did not authenticate the person again as asked (`auth_time`)".into(),
            ));
        }
    }
    if let Some(acr) = &login.acr_values
        && !claims.acr.as_deref().is_some_and(|got| acr.split(' ').any(|want| want == got))
    {
        return Err(refused(format!("the provider did not reach the authentication class asked ({acr})")));
    }
    let person = person_of(provider, &claims);
    let sign_in = sign_in_of(&claims);
    let groups = claims.list(&provider.settings.groups_claim);
    let ttl = i64::try_from(caller.state.config.session_ttl.as_micros()).unwrap_or(i64::MAX);
    let secret = sessions::random_token();
    let mut row = SessionRow {
        id: crate::ids::session_id(),
        mac: String::new(),
        provider: provider.name.to_string(),
        issuer: person.issuer.clone(),
        subject: person.subject.clone(),
        username_key: person.username.as_deref().map(username_key),
        person: serde_json::to_string(&person).map_err(|e| Error::Internal(e.to_string()))?,
        groups: serde_json::to_string(&groups).map_err(|e| Error::Internal(e.to_string()))?,
        auth_time: claims.auth_time,
        acr: sign_in.acr.clone(),
        amr: serde_json::to_string(&sign_in.amr).map_err(|e| Error::Internal(e.to_string()))?,
        csrf_token: sessions::random_token(),
        created_at: now,
        expires_at: Timestamp::from_micros(now.micros().saturating_add(ttl)),
        last_seen_at: now,
        ended_at: None,
    };
    row.mac = sessions::seal(&caller.state.keys.ring(), &row, &secret)
        .ok_or_else(|| Error::Internal("no checkpoint key to seal sessions with".into()))?;
    caller.state.store.insert_session(&row).await?;
    // A session this browser had ends: one person, one session per browser.
    let cookie_name = caller.state.auth.session_cookie();
    if let Some(previous) = caller
        .headers()
        .get(http::header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| sessions::cookie(c, cookie_name))
        .and_then(|v| v.split_once('.'))
    {
        caller.state.store.end_session(previous.0, now).await?;
    }
    tracing::info!(
        target: "lictor::operators",
        session = %row.id,
        person = %crate::logging::escape(&person_identity(&person)),
        "signed in"
    );
    let max_age = ttl / 1_000_000;
    Ok(Redirect {
        location: login.return_to,
        cookies: vec![
            sessions::set_cookie(cookie_name, &format!("{}.{secret}", row.id), "/", max_age, secure(caller)),
            sessions::set_cookie(sessions::LOGIN_COOKIE, "", "/v1/auth/callback", 0, secure(caller)),
        ],
    })
}

/// What signing out answers.
#[derive(serde::Serialize)]
pub(crate) struct SignedOut {
    /// Whether a session ended.
    pub ended: bool,
    /// Where the browser signs out of the provider too (RP-initiated
    /// logout), when it has such an endpoint.
    pub end_session_url: Option<String>,
    /// The cookie clearing the session.
    #[serde(skip)]
    pub cookie: String,
}

/// `POST /v1/auth/logout`: ends the request's session (its CSRF token
/// required), clears the cookie either way.
pub(crate) async fn logout(caller: &Caller<'_>) -> Result<SignedOut, Error> {
    let cookie_name = caller.state.auth.session_cookie();
    let clear = sessions::set_cookie(cookie_name, "", "/", 0, secure(caller));
    let has_session = caller
        .headers()
        .get(http::header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| sessions::cookie(c, cookie_name))
        .is_some();
    if !has_session {
        return Ok(SignedOut { ended: false, end_session_url: None, cookie: clear });
    }
    let principal = match caller.principal().await {
        Ok(principal) => principal,
        // An ended or expired session: nothing to end, the cookie goes.
        Err(Error::Unauthenticated(_)) => {
            return Ok(SignedOut { ended: false, end_session_url: None, cookie: clear });
        }
        Err(error) => return Err(error),
    };
    let Principal::Operator(operator) = &principal else {
        return Ok(SignedOut { ended: false, end_session_url: None, cookie: clear });
    };
    let Presented::Session { id, .. } = &operator.presented else {
        return Ok(SignedOut { ended: false, end_session_url: None, cookie: clear });
    };
    let ended = caller.state.store.end_session(id, Timestamp::now()).await?;
    let end_session_url =
        match caller.state.auth.operators().providers.named(operator.person.provider.as_str()) {
            Some(provider) => {
                provider.metadata().await.ok().and_then(|m| m.end_session_endpoint.clone()).map(|url| {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    query.append_pair("client_id", &provider.settings.client_id);
                    if let Some(base) = caller.state.config.public_url.as_deref() {
                        query.append_pair(
                            "post_logout_redirect_uri",
                            &format!("{}/", base.trim_end_matches('/')),
                        );
                    }
                    let separator = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{separator}{}", query.finish())
                })
            }
            None => None,
        };
    Ok(SignedOut { ended, end_session_url, cookie: clear })
}
