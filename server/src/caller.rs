//! One caller's request as the application layer sees it: the gateway it
//! reached, its request id and the credentials it presented.
//!
//! The HTTP front door builds a [`Caller`] for every request and hands it
//! to the application layer (`server/src/app/`); nothing here knows about
//! routes. The work runs inside the request's span ([`Caller::answer`]);
//! its answer is counted in the metrics by operation and status, and
//! logged as the request's one event.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tracing::Instrument as _;

use dropshot::HttpResponse;
use lictor_api::access::Access;
use lictor_api::ids::TenantId;
use lictor_api::{ApiError, Limited};

use crate::auth::Principal;
use crate::error::Error;
use crate::pipeline::KeyContext;
use crate::rate_limit::RateState;
use crate::state::GatewayState;
use crate::telemetry::{self, RequestFacts};

/// Who is asking, and what they can reach.
pub(crate) struct Caller<'a> {
    /// The gateway.
    pub state: &'a GatewayState,
    /// The request's id (also the `x-request-id` response header).
    pub request_id: &'a str,
    /// The operation (its OpenAPI operation id) and when its handler
    /// started.
    operation: &'a str,
    started: std::time::Instant,
    authorization: Option<&'a http::HeaderValue>,
    headers: &'a http::HeaderMap,
    /// Whether the method changes something (not `GET`/`HEAD`/`OPTIONS`).
    unsafe_method: bool,
    log: &'a slog::Logger,
    /// The units the request takes from its rate limits (one, or a
    /// batch's intents).
    cost: AtomicU32,
    /// What charging the rate limits found, once it happened (a request
    /// is charged once, however often its credentials are looked at).
    limit: Mutex<Option<Option<RateState>>>,
    /// Whether a capability token's check was counted in the metrics.
    token_counted: std::sync::atomic::AtomicBool,
    /// The request's span (disabled unless spans are exported).
    span: tracing::Span,
    /// What its log event will say.
    facts: Arc<RequestFacts>,
}

impl<'a> Caller<'a> {
    /// A caller whose request carried `headers` (its credentials are the
    /// `Authorization` header, if any; its trace parent `traceparent`).
    pub(crate) fn new(
        state: &'a GatewayState,
        (request_id, operation): (&'a str, &'a str),
        (method, headers): (&http::Method, &'a http::HeaderMap),
        log: &'a slog::Logger,
    ) -> Caller<'a> {
        Caller {
            state,
            request_id,
            operation,
            started: std::time::Instant::now(),
            authorization: headers.get(http::header::AUTHORIZATION),
            headers,
            unsafe_method: !method.is_safe(),
            log,
            cost: AtomicU32::new(1),
            limit: Mutex::new(None),
            token_counted: std::sync::atomic::AtomicBool::new(false),
            span: telemetry::request_span(operation, request_id, headers),
            facts: Arc::new(RequestFacts::default()),
        }
    }

    /// Runs the request's work in its span, then answers as
    /// [`Caller::finish`] does.
    pub(crate) async fn answer<T: HttpResponse + 'static>(
        &self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<Limited<T>, ApiError> {
        let result = self.facts.scope(work).instrument(self.span.clone()).await;
        self.finish(result)
    }

    /// Whether anything records the request's facts: its span (traces),
    /// or its log event. Without either, they are not even computed.
    fn recording(&self) -> bool {
        !self.span.is_disabled() || tracing::enabled!(target: "lictor::request", tracing::Level::INFO)
    }

    /// Notes the tenant the request acts in (its log event, its span).
    fn note_tenant(&self, tenant: &TenantId) {
        if !self.recording() {
            return;
        }
        let tenant = crate::logging::escape(tenant.as_str());
        self.span.record("tenant", &*tenant);
        self.facts.tenant(&tenant);
    }

    /// The `Authorization` header the request carried.
    pub(crate) fn authorization(&self) -> Option<&'a http::HeaderValue> {
        self.authorization
    }

    /// Makes the request cost `units` of its rate limits (a batch: one per
    /// intent), when it is charged.
    pub(crate) fn costing(&self, units: usize) {
        self.cost.store(u32::try_from(units).unwrap_or(u32::MAX).max(1), Ordering::Relaxed);
    }

    /// The request's headers.
    pub(crate) fn headers(&self) -> &'a http::HeaderMap {
        self.headers
    }

    /// The operation's access rule (the API's table; an operation it does
    /// not list is refused).
    pub(crate) fn access(&self) -> Result<&'static Access, Error> {
        lictor_api::access::access(self.operation).ok_or_else(|| {
            Error::Forbidden(format!("`{}` has no access rule: nobody may call it", self.operation))
        })
    }

    /// Authenticates the caller's credentials, checks that they may call
    /// the operation at all (`403` when no role they hold may), and, the
    /// first time, charges the request to their rate limits (`429
    /// rate_limited` past them).
    pub(crate) async fn principal(&self) -> Result<Principal, Error> {
        let cookies = self.headers.get(http::header::COOKIE);
        let authenticated = self.state.auth.authenticate(self.authorization, cookies).await;
        self.count_token(&authenticated);
        let principal = authenticated?;
        self.check_csrf(&principal)?;
        principal.may_call(self.access()?, self.operation)?;
        if self.recording() {
            let described = principal.describe();
            let described = crate::logging::escape(&described);
            self.span.record("principal", &*described);
            self.facts.principal(described.into_owned());
            if let Some(tenant) = principal.tenant() {
                self.note_tenant(tenant);
            }
        }
        let charged = self.limit.lock().map(|l| l.is_some()).unwrap_or(true);
        if !charged {
            let cost = self.cost.load(Ordering::Relaxed);
            let outcome = self.state.rate_limits.charge(&principal, cost).await;
            let seen = match &outcome {
                Ok(state) => state.clone(),
                Err(Error::RateLimited(state)) => Some((**state).clone()),
                Err(_) => None,
            };
            if let Ok(mut limit) = self.limit.lock() {
                *limit = Some(seen);
            }
            outcome?;
        }
        Ok(principal)
    }

    /// A session's request that changes something carries the session's
    /// CSRF token, and comes from the gateway's own origin when the
    /// browser says where from (docs/operators.md, "Sessions").
    fn check_csrf(&self, principal: &Principal) -> Result<(), Error> {
        let Principal::Operator(operator) = principal else { return Ok(()) };
        let crate::operators::Presented::Session { csrf, .. } = &operator.presented else { return Ok(()) };
        if !self.unsafe_method {
            return Ok(());
        }
        let sent = self.headers.get(crate::operators::sessions::CSRF_HEADER).and_then(|v| v.to_str().ok());
        let matches = sent.is_some_and(|sent| {
            use subtle::ConstantTimeEq as _;
            bool::from(sent.as_bytes().ct_eq(csrf.as_bytes()))
        });
        if !matches {
            return Err(Error::Forbidden(
                "a session's request that changes something needs the session's `X-CSRF-Token` header".into(),
            ));
        }
        let origin = self.headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok());
        if let (Some(origin), Some(public)) = (origin, self.state.config.public_url.as_deref())
            && !same_origin(origin, public)
        {
            return Err(Error::Forbidden(format!(
                "a session's request from `{}` is refused: the console is served at `{public}`",
                crate::logging::escape(origin)
            )));
        }
        Ok(())
    }

    /// Counts a capability token's check in the metrics, once per request.
    fn count_token(&self, authenticated: &Result<Principal, Error>) {
        let bearer = self.authorization.and_then(|v| v.to_str().ok()).and_then(|v| v.get(7..)).map(str::trim);
        if !bearer.is_some_and(|b| b.starts_with(crate::token::PREFIX))
            || self.token_counted.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let result = match authenticated {
            Ok(_) => "valid",
            Err(Error::Unauthenticated(message)) if message.starts_with("malformed") => "malformed",
            Err(Error::Unauthenticated(_)) => "rejected",
            Err(_) => "error",
        };
        self.state.metrics.token_verified(result);
    }

    /// The rate-limit headers of the request, if it was charged.
    fn limit_headers(&self) -> http::HeaderMap {
        self.limit.lock().ok().and_then(|l| l.clone().flatten()).map(|s| s.headers()).unwrap_or_default()
    }

    /// Turns a failure into the error the caller receives, logging what
    /// the caller cannot fix.
    pub(crate) fn fail(&self, error: Error) -> ApiError {
        if let Error::Store(store) = &error {
            self.state.metrics.store_error(store.kind());
        }
        if error.is_server_side() {
            slog::error!(self.log, "request failed"; "error" => %error);
        }
        ApiError::from(error).with_request_id(self.request_id)
    }

    /// The answer the caller receives: `Ok` with the rate-limit headers of
    /// its credentials; a rate limit's refusal as `429` with them (and
    /// `Retry-After`); any other `Err` as the error it is.
    pub(crate) fn finish<T: HttpResponse + 'static>(
        &self,
        result: Result<T, Error>,
    ) -> Result<Limited<T>, ApiError> {
        match result {
            Ok(answer) => {
                // A raw response and an MCP reply carry their own status; a
                // typed one declares it.
                let any = &answer as &dyn std::any::Any;
                let status = match (
                    any.downcast_ref::<http::Response<dropshot::Body>>(),
                    any.downcast_ref::<lictor_api::tools::McpReply>(),
                ) {
                    (Some(response), _) => response.status().as_u16(),
                    (_, Some(reply)) => reply.status().as_u16(),
                    _ => T::response_metadata().success.map_or(200, |s| s.as_u16()),
                };
                self.count(status);
                Ok(Limited::new(answer, self.limit_headers()))
            }
            Err(error @ Error::StepUp { .. }) => {
                let mut headers = self.limit_headers();
                if let Error::StepUp { challenge, .. } = &error {
                    let mut value = String::from(
                        "Bearer error=\"insufficient_user_authentication\", \
                         error_description=\"a more recent or stronger authentication is required\"",
                    );
                    value.push_str(&format!(", max_age={}", challenge.max_age_seconds));
                    if !challenge.acr_values.is_empty() {
                        value.push_str(&format!(", acr_values=\"{}\"", challenge.acr_values.join(" ")));
                    }
                    if let Ok(value) = http::HeaderValue::from_str(&value) {
                        headers.insert(http::header::WWW_AUTHENTICATE, value);
                    }
                }
                let refusal = self.fail(error);
                self.count(refusal.status());
                Ok(Limited::refused(refusal, headers))
            }
            Err(error @ Error::RateLimited(_)) => {
                let headers = self.limit_headers();
                let refusal = self.fail(error);
                self.count(refusal.status());
                Ok(Limited::refused(refusal, headers))
            }
            Err(error) => {
                let error = self.fail(error);
                self.count(error.status());
                Err(error)
            }
        }
    }

    /// Counts the answer in the metrics, and writes the request's event.
    fn count(&self, status: u16) {
        let elapsed = self.started.elapsed();
        self.state.metrics.request(self.operation, status, elapsed);
        self.span.record("http.response.status_code", status);
        if status >= 500 {
            self.span.record("otel.status_code", "ERROR");
        }
        let facts = self.facts.snapshot();
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let request_id = crate::logging::escape(self.request_id);
        let (tenant, principal) = (facts.tenant.as_deref(), facts.principal.as_deref());
        let verdict = facts.verdict.map(lictor_api::intents::Verdict::as_str);
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "lictor::request",
                    $level,
                    request_id = &*request_id,
                    operation = self.operation,
                    status,
                    tenant,
                    principal,
                    verdict,
                    latency_us,
                    "request"
                )
            };
        }
        // Probes and scrapes come every few seconds: they are `debug`.
        match self.operation {
            "ready_check" | "metrics" => event!(tracing::Level::DEBUG),
            _ => event!(tracing::Level::INFO),
        }
    }

    /// The tenant an operation acts on ([`Principal::tenant_scope`]), once
    /// the credentials' roles there allow the operation.
    pub(crate) async fn tenant_scope(
        &self,
        principal: &Principal,
        requested: Option<&TenantId>,
    ) -> Result<TenantId, Error> {
        let tenant = principal.tenant_scope(requested, &self.state.store).await?;
        let access = self.access()?;
        principal.may_call_in(access, self.operation, &tenant)?;
        self.note_tenant(&tenant);
        if access.step_up == Some(lictor_api::access::StepUp::Always) {
            self.step_up(principal, &tenant).await?;
        }
        Ok(tenant)
    }

    /// Fails with `401 step_up_required` unless the credentials carry the
    /// fresh, strong sign-in the tenant's step-up policy asks of
    /// destructive operations: a person's (`auth_time`, `acr`, `amr`); a
    /// key passes while the tenant exempts keys (the default); the
    /// superadmin key always does.
    pub(crate) async fn step_up(&self, principal: &Principal, tenant: &TenantId) -> Result<(), Error> {
        use lictor_api::operators::KeyStepUp;
        let row = self.state.store.operator_access(tenant).await?;
        let settings =
            row.as_ref().map(crate::operators::grants::AccessSettings::of).transpose()?.unwrap_or_default();
        let policy = settings.step_up;
        let provider = row
            .as_ref()
            .and_then(|r| r.provider.as_deref())
            .and_then(|p| lictor_api::operators::ProviderName::parse(p).ok());
        let lacking = match principal {
            Principal::Superadmin => None,
            Principal::Key(_) if policy.api_keys == KeyStepUp::Exempt => None,
            Principal::Key(_) => Some(format!(
                "tenant `{tenant}` does not let keys carry out destructive operations: a person signs in and does it"
            )),
            Principal::Token(_) => Some("capability tokens carry out no destructive operation".to_string()),
            Principal::Operator(operator) => crate::operators::step_up::lacking(
                &policy,
                &operator.sign_in,
                crate::clock::Timestamp::now().seconds(),
            ),
        };
        let Some(message) = lacking else { return Ok(()) };
        self.state.metrics.step_up_required(self.operation);
        let provider = match principal {
            Principal::Operator(operator) => Some(operator.person.provider.clone()),
            _ => provider,
        };
        Err(Error::StepUp {
            message: format!("step-up required: {message}"),
            challenge: Box::new(crate::operators::step_up::challenge(&policy, provider.as_ref())),
        })
    }

    /// Fails unless the credentials may see `tenant` (404 as if it did not
    /// exist) and their roles there allow the operation (403).
    pub(crate) async fn visible(&self, principal: &Principal, tenant: &TenantId) -> Result<(), Error> {
        if !principal.can_access(tenant) {
            return Err(crate::auth::not_found_tenant(tenant));
        }
        let access = self.access()?;
        principal.may_call_in(access, self.operation, tenant)?;
        self.note_tenant(tenant);
        if access.step_up == Some(lictor_api::access::StepUp::Always) {
            self.step_up(principal, tenant).await?;
        }
        Ok(())
    }

    /// The agent acting through these credentials (an agent key or a
    /// capability token), timed: the pipeline's `authenticate` stage.
    pub(crate) async fn agent(&self) -> Result<Acting, Error> {
        let started = std::time::Instant::now();
        let principal = self.principal().await?;
        let (key, tenant) = principal.acting_agent()?;
        self.note_tenant(&tenant);
        Ok(Acting { principal, key, tenant, authenticate_us: crate::clock::elapsed_us(started) })
    }

    /// The start of a tenant-scoped operation: the caller is authenticated
    /// (401) and may call the operation at all (403: the API's access
    /// table), then the input is opened (400), then the tenant it names is
    /// resolved ([`Caller::tenant_scope`]: a tenant key's own, 404 for
    /// another; a person's roles there must allow the operation, 403).
    pub(crate) async fn scoped<I: Input>(
        &self,
        input: I,
        tenant: impl FnOnce(&I::Value) -> Option<&TenantId>,
    ) -> Result<(Principal, TenantId, I::Value), Error> {
        let principal = self.principal().await?;
        let input = input.open()?;
        let tenant = self.tenant_scope(&principal, tenant(&input)).await?;
        // A token's expiry and revocation bind its reads too (its other
        // caveats concern the actions it may take).
        if let Some(token) = principal.token() {
            let revoked = self.state.pipeline.revocations().revoked(&tenant).await?;
            let now = crate::clock::Timestamp::now().seconds();
            crate::pipeline::capability::still_good(token, &revoked, now)
                .map_err(|reason| Error::Unauthenticated(reason.message))?;
        }
        Ok((principal, tenant, input))
    }

    /// [`Caller::scoped`], for an administrative operation (the access
    /// table keeps agents out).
    pub(crate) async fn admin<I: Input>(
        &self,
        input: I,
        tenant: impl FnOnce(&I::Value) -> Option<&TenantId>,
    ) -> Result<(Principal, TenantId, I::Value), Error> {
        self.scoped(input, tenant).await
    }
}

/// Whether `origin` (an `Origin` header) is the origin of `public` (a
/// base URL).
fn same_origin(origin: &str, public: &str) -> bool {
    let (Ok(origin), Ok(public)) = (url::Url::parse(origin), url::Url::parse(public)) else { return false };
    origin.origin() == public.origin()
}

/// An agent acting: who presented the credentials, as which key, in which
/// tenant, and how long checking them took.
pub(crate) struct Acting {
    /// The credentials.
    pub(crate) principal: Principal,
    /// The key (or token) as the pipeline sees it.
    pub(crate) key: KeyContext,
    /// The tenant it acts in.
    pub(crate) tenant: TenantId,
    /// The `authenticate` stage's duration.
    pub(crate) authenticate_us: u64,
}

/// An operation's input as the contract's extractors produced it: one
/// part or several, each valid or the error naming what is wrong.
pub(crate) trait Input {
    /// The parts, all valid.
    type Value;
    /// The parts, or the first part's error (path, then query, then body).
    fn open(self) -> Result<Self::Value, ApiError>;
}

impl<T> Input for Result<T, ApiError> {
    type Value = T;
    fn open(self) -> Result<T, ApiError> {
        self
    }
}

impl<A, B> Input for (Result<A, ApiError>, Result<B, ApiError>) {
    type Value = (A, B);
    fn open(self) -> Result<(A, B), ApiError> {
        Ok((self.0?, self.1?))
    }
}

impl<A, B, C> Input for (Result<A, ApiError>, Result<B, ApiError>, Result<C, ApiError>) {
    type Value = (A, B, C);
    fn open(self) -> Result<(A, B, C), ApiError> {
        Ok((self.0?, self.1?, self.2?))
    }
}
