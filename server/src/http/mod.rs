//! The HTTP front door: the implementation of [`LictorApi`].
//!
//! Handlers are thin: each builds the `Caller`, hands the extracted
//! input (or its validation error) to one function of the application
//! layer (`crate::app`) and turns the result into a response. No
//! business logic and no store access lives here.

use dropshot::{
    Header, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk, Path,
    RequestContext,
};
use lictor_api::agents::{
    Agent, AgentCreate, AgentListParams, AgentPage, AgentPath, AgentUpdate, TenantScope,
};
use lictor_api::api_keys::{ApiKeyCreate, ApiKeyCreated, ApiKeyListParams, ApiKeyPage, ApiKeyPath};
use lictor_api::approvals::{
    Approval, ApprovalDecide, ApprovalListParams, ApprovalPage, ApprovalPath, ApprovalWaitParams,
};
use lictor_api::audit::{
    AuditCheckpoint, AuditCheckpointPage, AuditEntryPage, AuditListParams, AuditPayload, AuditVerification,
    AuditVerifyParams, CheckpointListParams, ConsistencyProof, ConsistencyProofParams, ExportParams,
    InclusionProof, InclusionProofParams, IntentAuditParams, PayloadParams, PayloadPath, PublicKeys,
};
use lictor_api::discovery::{
    Attestation, AttestationCreate, AttestationListParams, AttestationPage, CatalogueService,
    CatalogueServiceCreate, CatalogueServicePath, CatalogueServiceWrite, CatalogueView, DiscoveredAgent,
    DiscoveredAgentListParams, DiscoveredAgentPage, DiscoveredAgentPath, DiscoveredAgentUpdate,
    DiscoverySettings, IngestParams, IngestResult,
};
use lictor_api::integrations::{
    DeadLetterListParams, DeadLetterPage, Integration, IntegrationCreate, IntegrationListParams,
    IntegrationPage, IntegrationPath, IntegrationUpdate, RedriveRequest, RedriveResult,
};
use lictor_api::intents::{
    AsyncIntentRequest, Decision, IntentAccepted, IntentBatchRequest, IntentBatchResponse, IntentDecision,
    IntentHeaders, IntentListParams, IntentPage, IntentPath, IntentRequest,
};
use lictor_api::operators::{
    CallbackParams, LoginParams, OperatorAccess, OperatorAccessWrite, OperatorList, OperatorListParams,
    OperatorSessionsEnd, ProviderList, ScimPath, ScimToken, SessionsEnded, Whoami,
};
use lictor_api::policies::{
    ActivePolicy, PolicyChange, PolicyDraft, PolicyDraftListParams, PolicyDraftPage, PolicyDraftPath,
    PolicyDraftWrite, PolicyDryRun, PolicyDryRunRequest, PolicyPromote, PolicyProposalListParams,
    PolicyProposalPage, PolicyProposalPath, PolicyRollback, PolicyTemplateList,
};
use lictor_api::reports::{
    AccessReport, ActivityParams, ActivityReport, AttestationReport, PostureReport, ReportParams,
};
use lictor_api::system::{Health, Readiness};
use lictor_api::tenants::{
    Tenant, TenantCreate, TenantCreated, TenantListParams, TenantPage, TenantPath, TenantUpdate,
    WebhookSecret,
};
use lictor_api::tokens::{
    MintedToken, Revocation, RevocationListParams, RevocationPage, TokenMint, TokenRevoke,
};
use lictor_api::tools::{
    ApprovalHeader, JsonRpcMessage, McpHeaders, McpReply, McpSessionHeaders, ToolCallRequest,
    ToolCallResponse,
};
use lictor_api::upstreams::{Upstream, UpstreamCreate, UpstreamListParams, UpstreamPage, UpstreamPath};
use lictor_api::{
    ApiError, Checked, IntentAliasPath, JsonBody, LictorApi, Limited, QueryParams, RawJsonBody,
};

use crate::app::intents::Arrival;
use crate::app::{
    agents, api_keys, approvals, audit, discovery, integrations, intents, mcp, operators, policies, reports,
    scim, system, tenants, tokens, tools, upstreams,
};
use crate::caller::Caller;
use crate::error::{Error, Object};
use crate::state::GatewayState;

pub(crate) mod metrics_listener;

/// The implementation of the API trait (never constructed).
pub enum LictorImpl {}

fn arrival<T>(body: &JsonBody<T>) -> Arrival {
    Arrival { at: body.started(), parse: body.parse_duration() }
}

/// The application layer's view of `rqctx`.
fn caller(rqctx: &RequestContext<GatewayState>) -> Caller<'_> {
    let headers = rqctx.request.headers();
    let method = rqctx.request.method();
    Caller::new(
        rqctx.context(),
        (&rqctx.request_id, &rqctx.endpoint.operation_id),
        (method, headers),
        &rqctx.log,
    )
}

/// The path parameters, or the error naming the bad one.
fn path_of<T>(path: Checked<Path<T>>) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static,
{
    path.into_inner().map(Path::into_inner)
}

/// The headers, or the error naming the bad one.
fn header_of<T>(header: Checked<Header<T>>) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static,
{
    header.into_inner().map(Header::into_inner)
}

fn json_response<T: serde::Serialize>(
    status: http::StatusCode,
    body: &T,
) -> Result<http::Response<dropshot::Body>, Error> {
    let bytes = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(dropshot::Body::from(bytes))
        .map_err(|e| Error::Internal(e.to_string()))
}

/// A streamed download of an audit export.
/// A report's answer: its JSON, or its CSV streamed.
fn report_response<T>(answer: reports::Answer<T>) -> Result<lictor_api::Report<T>, Error> {
    match answer {
        reports::Answer::Json(report) => Ok(lictor_api::Report::Json(report)),
        reports::Answer::Csv { filename, chunks } => {
            let export = audit::Export { content_type: "text/csv; charset=utf-8", filename, chunks };
            export_response(export).map(lictor_api::Report::Csv)
        }
    }
}

fn export_response(export: audit::Export) -> Result<http::Response<dropshot::Body>, Error> {
    let mut chunks = export.chunks;
    let frames = futures::stream::poll_fn(move |cx| {
        chunks.poll_recv(cx).map(|chunk| chunk.map(|bytes| bytes.map(http_body::Frame::data)))
    });
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, export.content_type)
        .header(http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", export.filename))
        .body(dropshot::Body::wrap(http_body_util::StreamBody::new(frames)))
        .map_err(|e| Error::Internal(e.to_string()))
}

impl LictorApi for LictorImpl {
    type Context = GatewayState;

    async fn health_check(
        _rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<Health>>, ApiError> {
        Ok(Limited::new(HttpResponseOk(system::health()), http::HeaderMap::new()))
    }

    async fn metrics(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                system::metrics(&caller).await.and_then(|text| {
                    http::Response::builder()
                        .status(http::StatusCode::OK)
                        .header(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)
                        .header(http::header::CACHE_CONTROL, "no-store")
                        .body(dropshot::Body::from(text))
                        .map_err(|e| Error::Internal(e.to_string()))
                })
            })
            .await
    }

    async fn ready_check(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<Readiness>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { system::ready(&caller).await.map(HttpResponseOk) }).await
    }

    async fn tenant_create(
        rqctx: RequestContext<GatewayState>,
        body: JsonBody<TenantCreate>,
    ) -> Result<Limited<HttpResponseCreated<TenantCreated>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { tenants::create(&caller, body.into_inner()).await.map(HttpResponseCreated) })
            .await
    }

    async fn tenant_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<TenantListParams>,
    ) -> Result<Limited<HttpResponseOk<TenantPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { tenants::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn tenant_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<Tenant>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { tenants::get(&caller, path_of(path)).await.map(HttpResponseOk) }).await
    }

    async fn tenant_update(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
        body: JsonBody<TenantUpdate>,
    ) -> Result<Limited<HttpResponseOk<Tenant>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                tenants::update(&caller, path_of(path), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn tenant_webhook_secret_rotate(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<WebhookSecret>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                tenants::rotate_webhook_secret(&caller, path_of(path)).await.map(HttpResponseOk)
            })
            .await
    }

    async fn api_key_create(
        rqctx: RequestContext<GatewayState>,
        body: JsonBody<ApiKeyCreate>,
    ) -> Result<Limited<HttpResponseCreated<ApiKeyCreated>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { api_keys::create(&caller, body.into_inner()).await.map(HttpResponseCreated) })
            .await
    }

    async fn api_key_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ApiKeyListParams>,
    ) -> Result<Limited<HttpResponseOk<ApiKeyPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { api_keys::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn api_key_revoke(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<ApiKeyPath>>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { api_keys::revoke(&caller, path_of(path)).await.map(|()| HttpResponseDeleted()) })
            .await
    }

    async fn agent_create(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AgentCreate>,
    ) -> Result<Limited<HttpResponseCreated<Agent>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result = agents::create(&caller, scope.into_inner(), body.into_inner()).await;
                result.map(HttpResponseCreated)
            })
            .await
    }

    async fn agent_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<AgentListParams>,
    ) -> Result<Limited<HttpResponseOk<AgentPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { agents::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn agent_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<AgentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Agent>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                agents::get(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn agent_update(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<AgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AgentUpdate>,
    ) -> Result<Limited<HttpResponseOk<Agent>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result =
                    agents::update(&caller, path_of(path), scope.into_inner(), body.into_inner()).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn intent_declare(
        rqctx: RequestContext<GatewayState>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<IntentRequest>,
    ) -> Result<Limited<HttpResponseOk<Decision>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let arrival = arrival(&body);
                let result = intents::declare(&caller, arrival, header_of(headers), body.into_inner()).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn intent_declare_async(
        rqctx: RequestContext<GatewayState>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<AsyncIntentRequest>,
    ) -> Result<Limited<HttpResponseAccepted<IntentAccepted>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let arrival = arrival(&body);
                let result =
                    intents::declare_async(&caller, arrival, header_of(headers), body.into_inner()).await;
                result.map(HttpResponseAccepted)
            })
            .await
    }

    async fn intent_declare_batch(
        rqctx: RequestContext<GatewayState>,
        body: JsonBody<IntentBatchRequest>,
    ) -> Result<Limited<HttpResponseOk<IntentBatchResponse>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let arrival = arrival(&body);
                let body = body.into_inner();
                if let Ok(request) = &body {
                    caller.costing(request.intents.len());
                }
                intents::declare_batch(&caller, arrival, body).await.map(HttpResponseOk)
            })
            .await
    }

    async fn intent_declare_alias(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntentAliasPath>>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<serde_json::Value>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let arrival = arrival(&body);
                let result = async {
                    let segment = path_of(path)?.intent_id;
                    let headers = header_of(headers);
                    let value = body.into_inner();
                    match segment.as_str() {
                        "async" => {
                            let request =
                                value.and_then(lictor_api::extract::parse_value::<AsyncIntentRequest>);
                            let accepted = intents::declare_async(&caller, arrival, headers, request).await?;
                            json_response(http::StatusCode::ACCEPTED, &accepted)
                        }
                        "batch" => {
                            let request =
                                value.and_then(lictor_api::extract::parse_value::<IntentBatchRequest>);
                            if let Ok(request) = &request {
                                caller.costing(request.intents.len());
                            }
                            let results = intents::declare_batch(&caller, arrival, request).await?;
                            json_response(http::StatusCode::OK, &results)
                        }
                        other => Err(Error::not_found(Object::Route, format!("POST /v1/intents/{other}"))),
                    }
                };
                result.await
            })
            .await
    }

    async fn intent_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<IntentListParams>,
    ) -> Result<Limited<HttpResponseOk<IntentPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { intents::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn intent_decision_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<IntentDecision>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                intents::decision(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn intent_audit_list(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntentPath>>,
        query: QueryParams<IntentAuditParams>,
    ) -> Result<Limited<HttpResponseOk<AuditEntryPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                intents::audit(&caller, path_of(path), query.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn audit_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<AuditListParams>,
    ) -> Result<Limited<HttpResponseOk<AuditEntryPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { audit::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn audit_checkpoint_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<CheckpointListParams>,
    ) -> Result<Limited<HttpResponseOk<AuditCheckpointPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { audit::checkpoints(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn audit_checkpoint_latest(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<AuditVerifyParams>,
    ) -> Result<Limited<HttpResponseOk<AuditCheckpoint>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { audit::latest_checkpoint(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn audit_inclusion_proof(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<InclusionProofParams>,
    ) -> Result<Limited<HttpResponseOk<InclusionProof>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { audit::inclusion_proof(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn audit_consistency_proof(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ConsistencyProofParams>,
    ) -> Result<Limited<HttpResponseOk<ConsistencyProof>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { audit::consistency_proof(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn audit_export(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ExportParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { audit::export(&caller, query.into_inner()).await.and_then(export_response) })
            .await
    }

    async fn audit_payload_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PayloadPath>>,
        query: QueryParams<PayloadParams>,
    ) -> Result<Limited<HttpResponseOk<AuditPayload>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                audit::payload(&caller, path_of(path), query.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn audit_payload_erase(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PayloadPath>>,
        query: QueryParams<PayloadParams>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result = audit::erase_payload(&caller, path_of(path), query.into_inner()).await;
                result.map(|()| HttpResponseDeleted())
            })
            .await
    }

    async fn public_keys(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<PublicKeys>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { audit::keys(&caller).await.map(HttpResponseOk) }).await
    }

    async fn audit_verify(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<AuditVerifyParams>,
    ) -> Result<Limited<HttpResponseOk<AuditVerification>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { audit::verify(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn token_mint(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<TokenMint>,
    ) -> Result<Limited<HttpResponseCreated<MintedToken>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                tokens::mint(&caller, scope.into_inner(), body.into_inner()).await.map(HttpResponseCreated)
            })
            .await
    }

    async fn token_revoke(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<TokenRevoke>,
    ) -> Result<Limited<HttpResponseOk<Revocation>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                tokens::revoke(&caller, scope.into_inner(), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn revocation_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<RevocationListParams>,
    ) -> Result<Limited<HttpResponseOk<RevocationPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { tokens::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn discovery_ingest(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<IngestParams>,
        body: dropshot::StreamingBody,
    ) -> Result<Limited<HttpResponseOk<IngestResult>>, ApiError> {
        let caller = caller(&rqctx);
        let header = |name: http::header::HeaderName| {
            rqctx.request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        let body = discovery::IngestBody {
            stream: Box::pin(futures::StreamExt::map(body.into_stream(), |chunk| {
                // dropshot 0.18 reports a body past the endpoint's bound as
                // a 400 with this message.
                chunk.map_err(|e| {
                    match e.external_message.starts_with("request body exceeded maximum size") {
                        true => std::io::Error::new(
                            std::io::ErrorKind::FileTooLarge,
                            "the body is larger than the ingest's 256 MiB",
                        ),
                        false => std::io::Error::other(e.external_message),
                    }
                })
            })),
            content_type: header(http::header::CONTENT_TYPE),
            content_encoding: header(http::header::CONTENT_ENCODING),
        };
        caller
            .answer(async { discovery::ingest(&caller, query.into_inner(), body).await.map(HttpResponseOk) })
            .await
    }

    async fn discovered_agent_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<DiscoveredAgentListParams>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgentPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { discovery::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn discovered_agent_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgent>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::get(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn discovered_agent_update(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<DiscoveredAgentUpdate>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgent>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::update(&caller, path_of(path), scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn discovered_agent_attest(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AttestationCreate>,
    ) -> Result<Limited<HttpResponseCreated<Attestation>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::attest(&caller, path_of(path), scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseCreated)
            })
            .await
    }

    async fn attestation_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<AttestationListParams>,
    ) -> Result<Limited<HttpResponseOk<AttestationPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { discovery::attestations(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn discovery_settings_get(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<DiscoverySettings>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { discovery::settings_get(&caller, scope.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn discovery_settings_put(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<DiscoverySettings>,
    ) -> Result<Limited<HttpResponseOk<DiscoverySettings>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::settings_put(&caller, scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn discovery_catalogue_get(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<CatalogueView>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { discovery::catalogue(&caller, scope.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn discovery_service_create(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<CatalogueServiceCreate>,
    ) -> Result<Limited<HttpResponseCreated<CatalogueService>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::service_create(&caller, scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseCreated)
            })
            .await
    }

    async fn discovery_service_put(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<CatalogueServicePath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<CatalogueServiceWrite>,
    ) -> Result<Limited<HttpResponseOk<CatalogueService>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::service_put(&caller, path_of(path), scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn discovery_service_delete(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<CatalogueServicePath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                discovery::service_delete(&caller, path_of(path), scope.into_inner())
                    .await
                    .map(|()| HttpResponseDeleted())
            })
            .await
    }

    async fn posture_report_get(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<lictor_api::Report<PostureReport>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { reports::posture(&caller, query.into_inner()).await.and_then(report_response) })
            .await
    }

    async fn access_report_get(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<lictor_api::Report<AccessReport>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { reports::access(&caller, query.into_inner()).await.and_then(report_response) })
            .await
    }

    async fn attestation_report_get(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<lictor_api::Report<AttestationReport>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                reports::attestation(&caller, query.into_inner()).await.and_then(report_response)
            })
            .await
    }

    async fn activity_report_get(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ActivityParams>,
    ) -> Result<Limited<lictor_api::Report<ActivityReport>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { reports::activity(&caller, query.into_inner()).await.and_then(report_response) })
            .await
    }

    async fn integration_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<IntegrationListParams>,
    ) -> Result<Limited<HttpResponseOk<IntegrationPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { integrations::list(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn integration_create(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<IntegrationCreate>,
    ) -> Result<Limited<HttpResponseCreated<Integration>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::create(&caller, scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseCreated)
            })
            .await
    }

    async fn integration_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Integration>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::get(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn integration_update(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<IntegrationUpdate>,
    ) -> Result<Limited<HttpResponseOk<Integration>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::update(&caller, path_of(path), scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn integration_delete(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::delete(&caller, path_of(path), scope.into_inner())
                    .await
                    .map(|()| HttpResponseDeleted())
            })
            .await
    }

    async fn integration_dead_letters(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntegrationPath>>,
        query: QueryParams<DeadLetterListParams>,
    ) -> Result<Limited<HttpResponseOk<DeadLetterPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::dead_letters(&caller, path_of(path), query.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn integration_redrive(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<RedriveRequest>,
    ) -> Result<Limited<HttpResponseOk<RedriveResult>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                integrations::redrive(&caller, path_of(path), scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn upstream_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<UpstreamListParams>,
    ) -> Result<Limited<HttpResponseOk<UpstreamPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { upstreams::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn upstream_create(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<UpstreamCreate>,
    ) -> Result<Limited<HttpResponseCreated<Upstream>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                upstreams::create(&caller, scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseCreated)
            })
            .await
    }

    async fn upstream_delete(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<UpstreamPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result = upstreams::delete(&caller, path_of(path), scope.into_inner()).await;
                result.map(|()| HttpResponseDeleted())
            })
            .await
    }

    async fn policy_draft_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<PolicyDraftListParams>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraftPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { policies::list_drafts(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn policy_draft_create(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDraftWrite>,
    ) -> Result<Limited<HttpResponseCreated<PolicyDraft>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result = policies::save_draft(&caller, None, scope.into_inner(), body.into_inner()).await;
                result.map(HttpResponseCreated)
            })
            .await
    }

    async fn policy_draft_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraft>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                policies::get_draft(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_draft_update(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDraftWrite>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraft>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result =
                    policies::save_draft(&caller, Some(path_of(path)), scope.into_inner(), body.into_inner())
                        .await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_draft_delete(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result = policies::delete_draft(&caller, path_of(path), scope.into_inner()).await;
                result.map(|()| HttpResponseDeleted())
            })
            .await
    }

    async fn policy_dry_run(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDryRunRequest>,
    ) -> Result<Limited<HttpResponseOk<PolicyDryRun>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                policies::dry_run(&caller, scope.into_inner(), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_active_get(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<ActivePolicy>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { policies::active(&caller, scope.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn policy_promote(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyPromote>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                policies::promote(&caller, scope.into_inner(), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_rollback(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyRollback>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                policies::rollback(&caller, scope.into_inner(), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_proposal_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<PolicyProposalListParams>,
    ) -> Result<Limited<HttpResponseOk<PolicyProposalPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { policies::list_proposals(&caller, query.into_inner()).await.map(HttpResponseOk) })
            .await
    }

    async fn policy_proposal_approve(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PolicyProposalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result =
                    policies::decide_proposal(&caller, path_of(path), scope.into_inner(), true).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_proposal_reject(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<PolicyProposalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result =
                    policies::decide_proposal(&caller, path_of(path), scope.into_inner(), false).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn policy_template_list(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<PolicyTemplateList>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { policies::templates(&caller).await.map(HttpResponseOk) }).await
    }

    async fn approval_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<ApprovalListParams>,
    ) -> Result<Limited<HttpResponseOk<ApprovalPage>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { approvals::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn approval_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<ApprovalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                approvals::get(&caller, path_of(path), scope.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn approval_decide(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<ApprovalPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<ApprovalDecide>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let result =
                    approvals::decide(&caller, path_of(path), scope.into_inner(), body.into_inner()).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn approval_wait(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<ApprovalPath>>,
        query: QueryParams<ApprovalWaitParams>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                approvals::wait(&caller, path_of(path), query.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn tool_call(
        rqctx: RequestContext<GatewayState>,
        headers: Checked<Header<ApprovalHeader>>,
        body: JsonBody<ToolCallRequest>,
    ) -> Result<Limited<HttpResponseOk<ToolCallResponse>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let arrival = arrival(&body);
                let result = tools::call_tool(&caller, arrival, header_of(headers), body.into_inner()).await;
                result.map(HttpResponseOk)
            })
            .await
    }

    async fn mcp_message_send(
        rqctx: RequestContext<GatewayState>,
        headers: Checked<Header<McpHeaders>>,
        body: RawJsonBody<JsonRpcMessage>,
    ) -> Result<Limited<McpReply>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let received = body.started();
                mcp::post(&caller, header_of(headers), body.into_inner(), received).await
            })
            .await
    }

    async fn mcp_session_delete(
        rqctx: RequestContext<GatewayState>,
        headers: Checked<Header<McpSessionHeaders>>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { mcp::delete(&caller, header_of(headers)).await.map(|()| HttpResponseDeleted()) })
            .await
    }

    async fn whoami_get(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<Whoami>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { operators::whoami(&caller).await.map(HttpResponseOk) }).await
    }

    async fn operator_access_get(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<OperatorAccess>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { operators::access_get(&caller, path_of(path)).await.map(HttpResponseOk) }).await
    }

    async fn operator_access_put(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
        body: JsonBody<OperatorAccessWrite>,
    ) -> Result<Limited<HttpResponseOk<OperatorAccess>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                operators::access_put(&caller, path_of(path), body.into_inner()).await.map(HttpResponseOk)
            })
            .await
    }

    async fn scim_token_rotate(
        rqctx: RequestContext<GatewayState>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<ScimToken>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { operators::scim_token(&caller, path_of(path)).await.map(HttpResponseOk) }).await
    }

    async fn operator_list(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<OperatorListParams>,
    ) -> Result<Limited<HttpResponseOk<OperatorList>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { operators::list(&caller, query.into_inner()).await.map(HttpResponseOk) }).await
    }

    async fn operator_sessions_end(
        rqctx: RequestContext<GatewayState>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<OperatorSessionsEnd>,
    ) -> Result<Limited<HttpResponseOk<SessionsEnded>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                operators::end_sessions(&caller, scope.into_inner(), body.into_inner())
                    .await
                    .map(HttpResponseOk)
            })
            .await
    }

    async fn auth_providers(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<HttpResponseOk<ProviderList>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { Ok(HttpResponseOk(operators::providers(&caller))) }).await
    }

    async fn auth_login(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<LoginParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller.answer(async { operators::login(&caller, query.into_inner()).await.and_then(redirect) }).await
    }

    async fn auth_callback(
        rqctx: RequestContext<GatewayState>,
        query: QueryParams<CallbackParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async { operators::callback(&caller, query.into_inner()).await.and_then(redirect) })
            .await
    }

    async fn auth_logout(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        let caller = caller(&rqctx);
        caller
            .answer(async {
                let out = operators::logout(&caller).await?;
                let mut response = json_response(http::StatusCode::OK, &out)?;
                let cookie =
                    http::HeaderValue::from_str(&out.cookie).map_err(|e| Error::Internal(e.to_string()))?;
                response.headers_mut().append(http::header::SET_COOKIE, cookie);
                response
                    .headers_mut()
                    .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                Ok(response)
            })
            .await
    }

    async fn scim_service_provider_config(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, None, scim::Resource::ServiceProviderConfig).await
    }

    async fn scim_resource_types(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, None, scim::Resource::ResourceTypes).await
    }

    async fn scim_schemas(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, None, scim::Resource::Schemas).await
    }

    async fn scim_user_list(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, None, scim::Resource::Users).await
    }

    async fn scim_user_create(
        rqctx: RequestContext<GatewayState>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, Some(body), scim::Resource::Users).await
    }

    async fn scim_user_get(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), None, scim::Resource::Users).await
    }

    async fn scim_user_replace(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), Some(body), scim::Resource::Users).await
    }

    async fn scim_user_patch(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), Some(body), scim::Resource::Users).await
    }

    async fn scim_user_delete(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), None, scim::Resource::Users).await
    }

    async fn scim_group_list(
        rqctx: RequestContext<GatewayState>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, None, scim::Resource::Groups).await
    }

    async fn scim_group_create(
        rqctx: RequestContext<GatewayState>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, None, Some(body), scim::Resource::Groups).await
    }

    async fn scim_group_get(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), None, scim::Resource::Groups).await
    }

    async fn scim_group_replace(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), Some(body), scim::Resource::Groups).await
    }

    async fn scim_group_patch(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), Some(body), scim::Resource::Groups).await
    }

    async fn scim_group_delete(
        rqctx: RequestContext<GatewayState>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
        scim_answer(&rqctx, Some(path.into_inner().id), None, scim::Resource::Groups).await
    }
}

/// A browser redirect (`303 See Other`), never cached.
fn redirect(to: operators::Redirect) -> Result<http::Response<dropshot::Body>, Error> {
    let mut response = http::Response::builder()
        .status(http::StatusCode::SEE_OTHER)
        .header(http::header::LOCATION, &to.location)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(dropshot::Body::empty())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for cookie in to.cookies {
        let value = http::HeaderValue::from_str(&cookie).map_err(|e| Error::Internal(e.to_string()))?;
        response.headers_mut().append(http::header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A SCIM request handed to the SCIM service, and its answer
/// (`application/scim+json`).
async fn scim_answer(
    rqctx: &RequestContext<GatewayState>,
    id: Option<String>,
    body: Option<dropshot::UntypedBody>,
    resource: scim::Resource,
) -> Result<Limited<http::Response<dropshot::Body>>, ApiError> {
    let caller = caller(rqctx);
    let request = scim::Request {
        method: rqctx.request.method().clone(),
        resource,
        id,
        query: rqctx.request.uri().query().unwrap_or_default().to_string(),
        content_type: rqctx
            .request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.map(|b| b.as_bytes().to_vec()),
    };
    caller
        .answer(async {
            let reply = scim::handle(&caller, request).await?;
            let mut builder = http::Response::builder()
                .status(reply.status)
                .header(http::header::CACHE_CONTROL, "no-store");
            if let Some(location) = &reply.location {
                builder = builder.header(http::header::LOCATION, location);
            }
            if let Some(etag) = &reply.etag {
                builder = builder.header(http::header::ETAG, etag);
            }
            match reply.body {
                Some(body) => {
                    let bytes = serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?;
                    builder
                        .header(http::header::CONTENT_TYPE, scim::CONTENT_TYPE)
                        .body(dropshot::Body::from(bytes))
                }
                None => builder.body(dropshot::Body::empty()),
            }
            .map_err(|e| Error::Internal(e.to_string()))
        })
        .await
}
