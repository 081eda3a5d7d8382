//! The API trait (feature `endpoints`): every operation, its extractors
//! and answers, and the OpenAPI document rendered from it.

use crate::reports::{
    AccessReport, ActivityParams, ActivityReport, AttestationReport, PostureReport, ReportParams,
};
use crate::{ApiError, Checked, JsonBody, Limited, QueryParams, RawJsonBody, Report};
use dropshot::{
    ApiDescription, Header, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk,
    Path, RequestContext,
};

use crate::agents::{Agent, AgentCreate, AgentListParams, AgentPage, AgentPath, AgentUpdate, TenantScope};
use crate::api_keys::{ApiKeyCreate, ApiKeyCreated, ApiKeyListParams, ApiKeyPage, ApiKeyPath};
use crate::approvals::{
    Approval, ApprovalDecide, ApprovalListParams, ApprovalPage, ApprovalPath, ApprovalWaitParams,
};
use crate::audit::{
    AuditCheckpoint, AuditCheckpointPage, AuditEntryPage, AuditListParams, AuditPayload, AuditVerification,
    AuditVerifyParams, CheckpointListParams, ConsistencyProof, ConsistencyProofParams, ExportParams,
    InclusionProof, InclusionProofParams, IntentAuditParams, PayloadParams, PayloadPath, PublicKeys,
};
use crate::discovery::{
    Attestation, AttestationCreate, AttestationListParams, AttestationPage, CatalogueService,
    CatalogueServiceCreate, CatalogueServicePath, CatalogueServiceWrite, CatalogueView, DiscoveredAgent,
    DiscoveredAgentListParams, DiscoveredAgentPage, DiscoveredAgentPath, DiscoveredAgentUpdate,
    DiscoverySettings, IngestParams, IngestResult,
};
use crate::integrations::{
    DeadLetterListParams, DeadLetterPage, Integration, IntegrationCreate, IntegrationListParams,
    IntegrationPage, IntegrationPath, IntegrationUpdate, RedriveRequest, RedriveResult,
};
use crate::intents::{
    AsyncIntentRequest, Decision, IntentAccepted, IntentBatchRequest, IntentBatchResponse, IntentDecision,
    IntentHeaders, IntentListParams, IntentPage, IntentPath, IntentRequest,
};
use crate::operators::{
    CallbackParams, LoginParams, OperatorAccess, OperatorAccessWrite, OperatorList, OperatorListParams,
    OperatorSessionsEnd, ProviderList, ScimPath, ScimToken, SessionsEnded, Whoami,
};
use crate::policies::{
    ActivePolicy, PolicyChange, PolicyDraft, PolicyDraftListParams, PolicyDraftPage, PolicyDraftPath,
    PolicyDraftWrite, PolicyDryRun, PolicyDryRunRequest, PolicyPromote, PolicyProposalListParams,
    PolicyProposalPage, PolicyProposalPath, PolicyRollback, PolicyTemplateList,
};
use crate::system::{Health, Readiness};
use crate::tenants::{
    Tenant, TenantCreate, TenantCreated, TenantListParams, TenantPage, TenantPath, TenantUpdate,
    WebhookSecret,
};
use crate::tokens::{MintedToken, Revocation, RevocationListParams, RevocationPage, TokenMint, TokenRevoke};
use crate::tools::{
    ApprovalHeader, JsonRpcMessage, McpHeaders, McpReply, McpSessionHeaders, ToolCallRequest,
    ToolCallResponse,
};
use crate::upstreams::{Upstream, UpstreamCreate, UpstreamListParams, UpstreamPage, UpstreamPath};

/// The Lictor API.
#[dropshot::api_description {
    tag_config = {
        allow_other_tags = false,
        policy = dropshot::EndpointTagPolicy::ExactlyOne,
        tags = {
            "system" = { description = "Liveness and readiness of the gateway." },
            "tenants" = { description = "Tenants: the unit of isolation (superadmin)." },
            "api-keys" = { description = "API keys for agents and tenant administrators." },
            "agents" = { description = "The agent registry: owners, status and budgets." },
            "intents" = { description = "Declare intents and read the decisions on them." },
            "audit" = { description = "The tamper-evident audit log." },
            "tokens" = { description = "Capability tokens: mint and revoke (attenuation is offline)." },
            "upstreams" = { description = "Upstream MCP servers whose tools agents call through the gateway." },
            "approvals" = { description = "The approvals queue: escalated requests waiting for a human." },
            "policies" = { description = "The policy lifecycle: drafts, dry-runs, promotion and rollback." },
            "tools" = { description = "Tool calls: the MCP front door and its plain-HTTP twin." },
            "integrations" = { description = "Audit sinks (SIEMs, object stores, relays) and notification channels, with their health." },
            "discovery" = { description = "Discovery: AI traffic that proxies, CASBs and DNS report, as an inventory of discovered agents to own and govern." },
            "reports" = { description = "Governance reports (posture, access, attestation, activity) as typed JSON or CSV." },
            "operators" = { description = "People: who the credentials are, operator access (sign-in, roles, step-up), SCIM provisioning." },
        },
    }
}]
pub trait LictorApi {
    /// The server state the implementation runs with.
    type Context;

    /// Report that the process is alive.
    #[endpoint { method = GET, path = "/healthz", tags = ["system"] }]
    async fn health_check(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<Health>>, ApiError>;

    /// Report whether the gateway can serve decisions (its store answers).
    #[endpoint { method = GET, path = "/readyz", tags = ["system"] }]
    async fn ready_check(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<Readiness>>, ApiError>;

    /// Prometheus metrics (text format 0.0.4), for the holder of the
    /// metrics token; documented in `docs/observability.md`, not part of
    /// the API contract.
    #[endpoint { method = GET, path = "/metrics", unpublished = true }]
    async fn metrics(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// Create a tenant (superadmin only).
    #[endpoint { method = POST, path = "/v1/admin/tenants", tags = ["tenants"] }]
    async fn tenant_create(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<TenantCreate>,
    ) -> Result<Limited<HttpResponseCreated<TenantCreated>>, ApiError>;

    /// List tenants (all for the superadmin, its own for a tenant admin).
    #[endpoint { method = GET, path = "/v1/admin/tenants", tags = ["tenants"] }]
    async fn tenant_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<TenantListParams>,
    ) -> Result<Limited<HttpResponseOk<TenantPage>>, ApiError>;

    /// Fetch one tenant with its activity summary.
    #[endpoint { method = GET, path = "/v1/admin/tenants/{tenant_id}", tags = ["tenants"] }]
    async fn tenant_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<Tenant>>, ApiError>;

    /// Change a tenant's settings.
    #[endpoint { method = PATCH, path = "/v1/admin/tenants/{tenant_id}", tags = ["tenants"] }]
    async fn tenant_update(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
        body: JsonBody<TenantUpdate>,
    ) -> Result<Limited<HttpResponseOk<Tenant>>, ApiError>;

    /// Issue a new webhook signing secret for a tenant.
    #[endpoint {
        method = POST,
        path = "/v1/admin/tenants/{tenant_id}/webhook-secret",
        tags = ["tenants"],
    }]
    async fn tenant_webhook_secret_rotate(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<WebhookSecret>>, ApiError>;

    /// Create an API key; the key itself is shown only in this answer.
    #[endpoint { method = POST, path = "/v1/admin/api-keys", tags = ["api-keys"] }]
    async fn api_key_create(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<ApiKeyCreate>,
    ) -> Result<Limited<HttpResponseCreated<ApiKeyCreated>>, ApiError>;

    /// List API keys (metadata only).
    #[endpoint { method = GET, path = "/v1/admin/api-keys", tags = ["api-keys"] }]
    async fn api_key_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ApiKeyListParams>,
    ) -> Result<Limited<HttpResponseOk<ApiKeyPage>>, ApiError>;

    /// Revoke an API key; it stops authenticating at once.
    #[endpoint { method = DELETE, path = "/v1/admin/api-keys/{key_id}", tags = ["api-keys"] }]
    async fn api_key_revoke(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<ApiKeyPath>>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// Register an agent.
    #[endpoint { method = POST, path = "/v1/agents", tags = ["agents"] }]
    async fn agent_create(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AgentCreate>,
    ) -> Result<Limited<HttpResponseCreated<Agent>>, ApiError>;

    /// List registered agents.
    #[endpoint { method = GET, path = "/v1/agents", tags = ["agents"] }]
    async fn agent_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<AgentListParams>,
    ) -> Result<Limited<HttpResponseOk<AgentPage>>, ApiError>;

    /// Fetch one agent.
    #[endpoint { method = GET, path = "/v1/agents/{agent_id}", tags = ["agents"] }]
    async fn agent_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<AgentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Agent>>, ApiError>;

    /// Change an agent's name, owner, description, status or budget.
    #[endpoint { method = PATCH, path = "/v1/agents/{agent_id}", tags = ["agents"] }]
    async fn agent_update(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<AgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AgentUpdate>,
    ) -> Result<Limited<HttpResponseOk<Agent>>, ApiError>;

    /// Declare an intent and get the decision (every verdict is HTTP 200).
    #[endpoint { method = POST, path = "/v1/intents", tags = ["intents"] }]
    async fn intent_declare(
        rqctx: RequestContext<Self::Context>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<IntentRequest>,
    ) -> Result<Limited<HttpResponseOk<Decision>>, ApiError>;

    /// Declare an intent to be decided in the background (HTTP 202).
    /// Published at `/v1/intents/async` (`/v1/intents:async` is its alias).
    #[endpoint { method = POST, path = "/v1/intents:async", tags = ["intents"] }]
    async fn intent_declare_async(
        rqctx: RequestContext<Self::Context>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<AsyncIntentRequest>,
    ) -> Result<Limited<HttpResponseAccepted<IntentAccepted>>, ApiError>;

    /// Declare up to 50 intents at once, each decided on its own.
    /// Published at `/v1/intents/batch` (`/v1/intents:batch` is its alias).
    #[endpoint { method = POST, path = "/v1/intents:batch", tags = ["intents"] }]
    async fn intent_declare_batch(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<IntentBatchRequest>,
    ) -> Result<Limited<HttpResponseOk<IntentBatchResponse>>, ApiError>;

    /// `/v1/intents/async` and `/v1/intents/batch`, the published paths of
    /// `intent_declare_async` and `intent_declare_batch` (see
    /// [`PUBLISHED_PATHS`]).
    #[endpoint { method = POST, path = "/v1/intents/{intent_id}", unpublished = true }]
    async fn intent_declare_alias(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntentAliasPath>>,
        headers: Checked<Header<IntentHeaders>>,
        body: JsonBody<serde_json::Value>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// List intents, newest first.
    #[endpoint { method = GET, path = "/v1/intents", tags = ["intents"] }]
    async fn intent_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<IntentListParams>,
    ) -> Result<Limited<HttpResponseOk<IntentPage>>, ApiError>;

    /// Fetch an intent's status and, once made, its decision.
    #[endpoint { method = GET, path = "/v1/intents/{intent_id}/decision", tags = ["intents"] }]
    async fn intent_decision_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<IntentDecision>>, ApiError>;

    /// List the audit entries recorded for an intent.
    #[endpoint { method = GET, path = "/v1/intents/{intent_id}/audit", tags = ["intents"] }]
    async fn intent_audit_list(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntentPath>>,
        query: QueryParams<IntentAuditParams>,
    ) -> Result<Limited<HttpResponseOk<AuditEntryPage>>, ApiError>;

    /// List a tenant's audit entries, filtered, in `seq` order.
    #[endpoint { method = GET, path = "/v1/admin/audit", tags = ["audit"] }]
    async fn audit_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<AuditListParams>,
    ) -> Result<Limited<HttpResponseOk<AuditEntryPage>>, ApiError>;

    /// Verify a tenant's audit chain and report the first broken link.
    #[endpoint { method = GET, path = "/v1/admin/audit/verify", tags = ["audit"] }]
    async fn audit_verify(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<AuditVerifyParams>,
    ) -> Result<Limited<HttpResponseOk<AuditVerification>>, ApiError>;

    /// List a tenant's signed audit checkpoints, largest first.
    #[endpoint { method = GET, path = "/v1/admin/audit/checkpoints", tags = ["audit"] }]
    async fn audit_checkpoint_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<CheckpointListParams>,
    ) -> Result<Limited<HttpResponseOk<AuditCheckpointPage>>, ApiError>;

    /// Fetch a tenant's latest signed audit checkpoint.
    #[endpoint { method = GET, path = "/v1/admin/audit/checkpoints/latest", tags = ["audit"] }]
    async fn audit_checkpoint_latest(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<AuditVerifyParams>,
    ) -> Result<Limited<HttpResponseOk<AuditCheckpoint>>, ApiError>;

    /// Prove that an entry is in a tenant's audit tree (RFC 6962).
    #[endpoint { method = GET, path = "/v1/admin/audit/proof/inclusion", tags = ["audit"] }]
    async fn audit_inclusion_proof(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<InclusionProofParams>,
    ) -> Result<Limited<HttpResponseOk<InclusionProof>>, ApiError>;

    /// Prove that a later audit tree extends an earlier one (RFC 6962).
    #[endpoint { method = GET, path = "/v1/admin/audit/proof/consistency", tags = ["audit"] }]
    async fn audit_consistency_proof(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ConsistencyProofParams>,
    ) -> Result<Limited<HttpResponseOk<ConsistencyProof>>, ApiError>;

    /// Export a tenant's audit log with a checkpoint covering it (streamed).
    #[endpoint { method = GET, path = "/v1/admin/audit/export", tags = ["audit"] }]
    async fn audit_export(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ExportParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// Fetch a payload stored apart from the audit chain.
    #[endpoint { method = GET, path = "/v1/admin/audit/payloads/{digest}", tags = ["audit"] }]
    async fn audit_payload_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PayloadPath>>,
        query: QueryParams<PayloadParams>,
    ) -> Result<Limited<HttpResponseOk<AuditPayload>>, ApiError>;

    /// Erase a stored payload (its digest stays in the chain; audited).
    #[endpoint { method = DELETE, path = "/v1/admin/audit/payloads/{digest}", tags = ["audit"] }]
    async fn audit_payload_erase(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PayloadPath>>,
        query: QueryParams<PayloadParams>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// The gateway's public keys (audit checkpoint signatures).
    #[endpoint { method = GET, path = "/.well-known/lictor/keys", tags = ["system"] }]
    async fn public_keys(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<PublicKeys>>, ApiError>;

    /// Mint a capability token for an agent.
    #[endpoint { method = POST, path = "/v1/admin/mint", tags = ["tokens"] }]
    async fn token_mint(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<TokenMint>,
    ) -> Result<Limited<HttpResponseCreated<MintedToken>>, ApiError>;

    /// Revoke a jti and every token derived from it.
    #[endpoint { method = POST, path = "/v1/admin/revoke", tags = ["tokens"] }]
    async fn token_revoke(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<TokenRevoke>,
    ) -> Result<Limited<HttpResponseOk<Revocation>>, ApiError>;

    /// List revoked jtis, oldest first.
    #[endpoint { method = GET, path = "/v1/admin/revocations", tags = ["tokens"] }]
    async fn revocation_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<RevocationListParams>,
    ) -> Result<Limited<HttpResponseOk<RevocationPage>>, ApiError>;

    /// List the upstream MCP servers the tenant's agents can reach.
    #[endpoint { method = GET, path = "/v1/admin/upstreams", tags = ["upstreams"] }]
    async fn upstream_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<UpstreamListParams>,
    ) -> Result<Limited<HttpResponseOk<UpstreamPage>>, ApiError>;

    /// Add an upstream MCP server for the tenant.
    #[endpoint { method = POST, path = "/v1/admin/upstreams", tags = ["upstreams"] }]
    async fn upstream_create(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<UpstreamCreate>,
    ) -> Result<Limited<HttpResponseCreated<Upstream>>, ApiError>;

    /// Remove one of the tenant's upstream MCP servers.
    #[endpoint { method = DELETE, path = "/v1/admin/upstreams/{name}", tags = ["upstreams"] }]
    async fn upstream_delete(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<UpstreamPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// List the integrations serving the tenant (the environment's, then
    /// the tenant's own), each with its health for the tenant.
    #[endpoint { method = GET, path = "/v1/admin/integrations", tags = ["integrations"] }]
    async fn integration_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<IntegrationListParams>,
    ) -> Result<Limited<HttpResponseOk<IntegrationPage>>, ApiError>;

    /// Add an audit sink or a notification channel for the tenant. Its
    /// secrets are kept sealed and never returned.
    #[endpoint { method = POST, path = "/v1/admin/integrations", tags = ["integrations"] }]
    async fn integration_create(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<IntegrationCreate>,
    ) -> Result<Limited<HttpResponseCreated<Integration>>, ApiError>;

    /// One integration, with its health for the tenant.
    #[endpoint { method = GET, path = "/v1/admin/integrations/{id}", tags = ["integrations"] }]
    async fn integration_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Integration>>, ApiError>;

    /// Change one of the tenant's integrations: turn it on or off, or
    /// replace its settings (secret fields left out keep their values).
    #[endpoint { method = PATCH, path = "/v1/admin/integrations/{id}", tags = ["integrations"] }]
    async fn integration_update(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<IntegrationUpdate>,
    ) -> Result<Limited<HttpResponseOk<Integration>>, ApiError>;

    /// Remove one of the tenant's integrations, with its delivery state.
    #[endpoint { method = DELETE, path = "/v1/admin/integrations/{id}", tags = ["integrations"] }]
    async fn integration_delete(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// The tenant's events a sink's destination refused for good.
    #[endpoint { method = GET, path = "/v1/admin/integrations/{id}/dead-letters", tags = ["integrations"] }]
    async fn integration_dead_letters(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntegrationPath>>,
        query: QueryParams<DeadLetterListParams>,
    ) -> Result<Limited<HttpResponseOk<DeadLetterPage>>, ApiError>;

    /// Send the tenant's dead letters of a sink again (one, or all).
    #[endpoint { method = POST, path = "/v1/admin/integrations/{id}/dead-letters/redrive", tags = ["integrations"] }]
    async fn integration_redrive(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<IntegrationPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<RedriveRequest>,
    ) -> Result<Limited<HttpResponseOk<RedriveResult>>, ApiError>;

    /// Ingest records from a proxy, CASB or DNS resolver, in a vendor's
    /// format: NDJSON, a JSON array, CSV or log lines as the vendor writes
    /// them, gzip accepted (`Content-Encoding: gzip`, or a gzip body). The
    /// body is read as it arrives; refused records are reported with their
    /// lines while the good ones are kept, and a record sent again adds
    /// nothing. At most 256 MiB on the wire and 1 GiB decompressed.
    #[endpoint {
        method = POST,
        path = "/api/discovery/ingest",
        tags = ["discovery"],
        request_body_max_bytes = 268_435_456,
    }]
    async fn discovery_ingest(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<IngestParams>,
        body: dropshot::StreamingBody,
    ) -> Result<Limited<HttpResponseOk<IngestResult>>, ApiError>;

    /// List the tenant's discovered agents, most recently seen first.
    #[endpoint { method = GET, path = "/api/discovery/agents", tags = ["discovery"] }]
    async fn discovered_agent_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<DiscoveredAgentListParams>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgentPage>>, ApiError>;

    /// One discovered agent, with the sources that saw it.
    #[endpoint { method = GET, path = "/api/discovery/agents/{discovered_id}", tags = ["discovery"] }]
    async fn discovered_agent_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgent>>, ApiError>;

    /// Govern a discovered agent: review it (sanctioned, unsanctioned,
    /// ignored, with a reason), give it an owner, or link it to the
    /// registered agent it is. Each change is an audit entry.
    #[endpoint { method = PATCH, path = "/api/discovery/agents/{discovered_id}", tags = ["discovery"] }]
    async fn discovered_agent_update(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<DiscoveredAgentUpdate>,
    ) -> Result<Limited<HttpResponseOk<DiscoveredAgent>>, ApiError>;

    /// Attest, as the discovered agent's owner, that its access is still
    /// needed (an audit entry; the attestation is due again after the
    /// tenant's interval).
    #[endpoint { method = POST, path = "/api/discovery/agents/{discovered_id}/attestations", tags = ["discovery"] }]
    async fn discovered_agent_attest(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<DiscoveredAgentPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<AttestationCreate>,
    ) -> Result<Limited<HttpResponseCreated<Attestation>>, ApiError>;

    /// List the tenant's attestations, newest first.
    #[endpoint { method = GET, path = "/api/discovery/attestations", tags = ["discovery"] }]
    async fn attestation_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<AttestationListParams>,
    ) -> Result<Limited<HttpResponseOk<AttestationPage>>, ApiError>;

    /// The tenant's discovery settings.
    #[endpoint { method = GET, path = "/api/discovery/settings", tags = ["discovery"] }]
    async fn discovery_settings_get(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<DiscoverySettings>>, ApiError>;

    /// Replace the tenant's discovery settings.
    #[endpoint { method = PUT, path = "/api/discovery/settings", tags = ["discovery"] }]
    async fn discovery_settings_put(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<DiscoverySettings>,
    ) -> Result<Limited<HttpResponseOk<DiscoverySettings>>, ApiError>;

    /// The AI-service catalogue the tenant's records are matched with: the
    /// shipped services and the tenant's own.
    #[endpoint { method = GET, path = "/api/discovery/catalogue", tags = ["discovery"] }]
    async fn discovery_catalogue_get(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<CatalogueView>>, ApiError>;

    /// Add an AI service of the tenant's own to the catalogue. It may claim
    /// no host, pattern or vendor name another service has; records
    /// ingested from then on are matched with it.
    #[endpoint { method = POST, path = "/api/discovery/catalogue/services", tags = ["discovery"] }]
    async fn discovery_service_create(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<CatalogueServiceCreate>,
    ) -> Result<Limited<HttpResponseCreated<CatalogueService>>, ApiError>;

    /// Replace one of the tenant's own AI services.
    #[endpoint { method = PUT, path = "/api/discovery/catalogue/services/{service_id}", tags = ["discovery"] }]
    async fn discovery_service_put(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<CatalogueServicePath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<CatalogueServiceWrite>,
    ) -> Result<Limited<HttpResponseOk<CatalogueService>>, ApiError>;

    /// Remove one of the tenant's own AI services (discovered agents keep
    /// what they were matched as).
    #[endpoint { method = DELETE, path = "/api/discovery/catalogue/services/{service_id}", tags = ["discovery"] }]
    async fn discovery_service_delete(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<CatalogueServicePath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// The posture report: discovered vs governed agents, their review,
    /// owners and attestations, unsanctioned AI services in use, and the
    /// trend over the range. JSON, or CSV (`Accept: text/csv` or
    /// `format=csv`).
    #[endpoint { method = GET, path = "/api/reports/posture", tags = ["reports"] }]
    async fn posture_report_get(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<Report<PostureReport>>, ApiError>;

    /// The access register: each registered agent with each credential it
    /// holds (keys, tokens and their caveats), its owner and last use.
    /// JSON, or CSV (`Accept: text/csv` or `format=csv`).
    #[endpoint { method = GET, path = "/api/reports/access", tags = ["reports"] }]
    async fn access_report_get(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<Report<AccessReport>>, ApiError>;

    /// The attestation evidence: who attested what and when in the range,
    /// and what is overdue now. JSON, or CSV (`Accept: text/csv` or
    /// `format=csv`).
    #[endpoint { method = GET, path = "/api/reports/attestation", tags = ["reports"] }]
    async fn attestation_report_get(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ReportParams>,
    ) -> Result<Limited<Report<AttestationReport>>, ApiError>;

    /// The activity report: decisions by verdict, stage, agent, tool and
    /// environment over time, from the audit log. JSON, or CSV
    /// (`Accept: text/csv` or `format=csv`).
    #[endpoint { method = GET, path = "/api/reports/activity", tags = ["reports"] }]
    async fn activity_report_get(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ActivityParams>,
    ) -> Result<Limited<Report<ActivityReport>>, ApiError>;

    /// List the tenant's policy drafts, oldest first (without their modules).
    #[endpoint { method = GET, path = "/v1/admin/policies/drafts", tags = ["policies"] }]
    async fn policy_draft_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<PolicyDraftListParams>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraftPage>>, ApiError>;

    /// Create a policy draft; it is compiled first and refused with its compile errors.
    #[endpoint { method = POST, path = "/v1/admin/policies/drafts", tags = ["policies"] }]
    async fn policy_draft_create(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDraftWrite>,
    ) -> Result<Limited<HttpResponseCreated<PolicyDraft>>, ApiError>;

    /// Read a policy draft with its modules and data.
    #[endpoint { method = GET, path = "/v1/admin/policies/drafts/{draft_id}", tags = ["policies"] }]
    async fn policy_draft_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraft>>, ApiError>;

    /// Replace a policy draft (not while it is active or the rollback target).
    #[endpoint { method = PUT, path = "/v1/admin/policies/drafts/{draft_id}", tags = ["policies"] }]
    async fn policy_draft_update(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDraftWrite>,
    ) -> Result<Limited<HttpResponseOk<PolicyDraft>>, ApiError>;

    /// Delete a policy draft (not while it is active or the rollback target).
    #[endpoint { method = DELETE, path = "/v1/admin/policies/drafts/{draft_id}", tags = ["policies"] }]
    async fn policy_draft_delete(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PolicyDraftPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// Evaluate a candidate bundle on synthetic inputs and on recorded decisions, without changing anything.
    #[endpoint { method = POST, path = "/v1/admin/policies/dry-run", tags = ["policies"] }]
    async fn policy_dry_run(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyDryRunRequest>,
    ) -> Result<Limited<HttpResponseOk<PolicyDryRun>>, ApiError>;

    /// Show the tenant's active bundle and its rollback target.
    #[endpoint { method = GET, path = "/v1/admin/policies/active", tags = ["policies"] }]
    async fn policy_active_get(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<ActivePolicy>>, ApiError>;

    /// Promote a draft atomically (or propose it, under the two-person rule).
    #[endpoint { method = POST, path = "/v1/admin/policies/active", tags = ["policies"] }]
    async fn policy_promote(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyPromote>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError>;

    /// Restore the previous bundle.
    #[endpoint { method = POST, path = "/v1/admin/policies/rollback", tags = ["policies"] }]
    async fn policy_rollback(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<PolicyRollback>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError>;

    /// List promotion proposals, newest first.
    #[endpoint { method = GET, path = "/v1/admin/policies/proposals", tags = ["policies"] }]
    async fn policy_proposal_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<PolicyProposalListParams>,
    ) -> Result<Limited<HttpResponseOk<PolicyProposalPage>>, ApiError>;

    /// Approve a proposal: its bundle is promoted (by an administrator other than the proposer).
    #[endpoint { method = POST, path = "/v1/admin/policies/proposals/{proposal_id}/approve", tags = ["policies"] }]
    async fn policy_proposal_approve(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PolicyProposalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError>;

    /// Reject a proposal.
    #[endpoint { method = POST, path = "/v1/admin/policies/proposals/{proposal_id}/reject", tags = ["policies"] }]
    async fn policy_proposal_reject(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<PolicyProposalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<PolicyChange>>, ApiError>;

    /// List the policy templates a tenant can start a draft from.
    #[endpoint { method = GET, path = "/v1/admin/policies/templates", tags = ["policies"] }]
    async fn policy_template_list(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<PolicyTemplateList>>, ApiError>;

    /// List approval requests, newest first.
    #[endpoint { method = GET, path = "/v1/admin/approvals", tags = ["approvals"] }]
    async fn approval_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<ApprovalListParams>,
    ) -> Result<Limited<HttpResponseOk<ApprovalPage>>, ApiError>;

    /// Fetch one approval request.
    #[endpoint { method = GET, path = "/v1/admin/approvals/{approval_id}", tags = ["approvals"] }]
    async fn approval_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<ApprovalPath>>,
        scope: QueryParams<TenantScope>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError>;

    /// Approve or reject a pending approval request (once).
    #[endpoint { method = POST, path = "/v1/admin/approvals/{approval_id}/decide", tags = ["approvals"] }]
    async fn approval_decide(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<ApprovalPath>>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<ApprovalDecide>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError>;

    /// Read an approval as the agent waiting on it, optionally long-polling.
    #[endpoint { method = GET, path = "/v1/approvals/{approval_id}", tags = ["approvals"] }]
    async fn approval_wait(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<ApprovalPath>>,
        query: QueryParams<ApprovalWaitParams>,
    ) -> Result<Limited<HttpResponseOk<Approval>>, ApiError>;

    /// Call a tool through the pipeline and, when approved, its upstream.
    #[endpoint { method = POST, path = "/v1/tool-call", tags = ["tools"] }]
    async fn tool_call(
        rqctx: RequestContext<Self::Context>,
        headers: Checked<Header<ApprovalHeader>>,
        body: JsonBody<ToolCallRequest>,
    ) -> Result<Limited<HttpResponseOk<ToolCallResponse>>, ApiError>;

    /// Send one MCP JSON-RPC message (Streamable HTTP; JSON responses).
    #[endpoint { method = POST, path = "/v1/mcp", tags = ["tools"] }]
    async fn mcp_message_send(
        rqctx: RequestContext<Self::Context>,
        headers: Checked<Header<McpHeaders>>,
        body: RawJsonBody<JsonRpcMessage>,
    ) -> Result<Limited<McpReply>, ApiError>;

    /// End an MCP session opened by `initialize` (2025 revisions).
    #[endpoint { method = DELETE, path = "/v1/mcp", tags = ["tools"] }]
    async fn mcp_session_delete(
        rqctx: RequestContext<Self::Context>,
        headers: Checked<Header<McpSessionHeaders>>,
    ) -> Result<Limited<HttpResponseDeleted>, ApiError>;

    /// Who the credentials are: the kind, the person, the roles held in
    /// each tenant, the sign-in's strength, the session and its CSRF token.
    #[endpoint { method = GET, path = "/v1/whoami", tags = ["operators"] }]
    async fn whoami_get(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<Whoami>>, ApiError>;

    /// A tenant's operator access: its identity provider, which groups
    /// hold which roles, and what destructive operations need.
    #[endpoint { method = GET, path = "/v1/admin/tenants/{tenant_id}/operator-access", tags = ["operators"] }]
    async fn operator_access_get(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<OperatorAccess>>, ApiError>;

    /// Replace a tenant's operator access (a destructive operation: it
    /// decides who holds which role).
    #[endpoint { method = PUT, path = "/v1/admin/tenants/{tenant_id}/operator-access", tags = ["operators"] }]
    async fn operator_access_put(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
        body: JsonBody<OperatorAccessWrite>,
    ) -> Result<Limited<HttpResponseOk<OperatorAccess>>, ApiError>;

    /// Issue the tenant's SCIM bearer token (the previous one stops
    /// working); from then on SCIM decides who the tenant's people are.
    #[endpoint { method = POST, path = "/v1/admin/tenants/{tenant_id}/scim-token", tags = ["operators"] }]
    async fn scim_token_rotate(
        rqctx: RequestContext<Self::Context>,
        path: Checked<Path<TenantPath>>,
    ) -> Result<Limited<HttpResponseOk<ScimToken>>, ApiError>;

    /// The people who may operate a tenant, with their roles.
    #[endpoint { method = GET, path = "/v1/admin/operators", tags = ["operators"] }]
    async fn operator_list(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<OperatorListParams>,
    ) -> Result<Limited<HttpResponseOk<OperatorList>>, ApiError>;

    /// End a person's console sessions and refuse their tokens issued
    /// until now.
    #[endpoint { method = POST, path = "/v1/admin/operators/end-sessions", tags = ["operators"] }]
    async fn operator_sessions_end(
        rqctx: RequestContext<Self::Context>,
        scope: QueryParams<TenantScope>,
        body: JsonBody<OperatorSessionsEnd>,
    ) -> Result<Limited<HttpResponseOk<SessionsEnded>>, ApiError>;

    /// The identity providers people sign in with (for a sign-in page).
    #[endpoint { method = GET, path = "/v1/auth/providers", unpublished = true }]
    async fn auth_providers(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<HttpResponseOk<ProviderList>>, ApiError>;

    /// Start signing in: a redirect to the provider (code flow with PKCE).
    #[endpoint { method = GET, path = "/v1/auth/login", unpublished = true }]
    async fn auth_login(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<LoginParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// Finish signing in: the provider's redirect back, answered with the
    /// session cookie and a redirect to where the sign-in started.
    #[endpoint { method = GET, path = "/v1/auth/callback", unpublished = true }]
    async fn auth_callback(
        rqctx: RequestContext<Self::Context>,
        query: QueryParams<CallbackParams>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// Sign out: the session ends, its cookie is cleared, and the answer
    /// says where to sign out of the provider too.
    #[endpoint { method = POST, path = "/v1/auth/logout", unpublished = true }]
    async fn auth_logout(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: what the service supports (RFC 7644, 5).
    #[endpoint { method = GET, path = "/scim/v2/ServiceProviderConfig", unpublished = true }]
    async fn scim_service_provider_config(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: the resource types (RFC 7644, 4).
    #[endpoint { method = GET, path = "/scim/v2/ResourceTypes", unpublished = true }]
    async fn scim_resource_types(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: the schemas (RFC 7643, 7).
    #[endpoint { method = GET, path = "/scim/v2/Schemas", unpublished = true }]
    async fn scim_schemas(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: list users, with `filter`, `startIndex`, `count`.
    #[endpoint { method = GET, path = "/scim/v2/Users", unpublished = true }]
    async fn scim_user_list(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: create a user.
    #[endpoint { method = POST, path = "/scim/v2/Users", unpublished = true }]
    async fn scim_user_create(
        rqctx: RequestContext<Self::Context>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: one user.
    #[endpoint { method = GET, path = "/scim/v2/Users/{id}", unpublished = true }]
    async fn scim_user_get(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: replace a user.
    #[endpoint { method = PUT, path = "/scim/v2/Users/{id}", unpublished = true }]
    async fn scim_user_replace(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: change a user (PatchOp).
    #[endpoint { method = PATCH, path = "/scim/v2/Users/{id}", unpublished = true }]
    async fn scim_user_patch(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: delete a user.
    #[endpoint { method = DELETE, path = "/scim/v2/Users/{id}", unpublished = true }]
    async fn scim_user_delete(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: list groups, with `filter`, `startIndex`, `count`.
    #[endpoint { method = GET, path = "/scim/v2/Groups", unpublished = true }]
    async fn scim_group_list(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: create a group.
    #[endpoint { method = POST, path = "/scim/v2/Groups", unpublished = true }]
    async fn scim_group_create(
        rqctx: RequestContext<Self::Context>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: one group.
    #[endpoint { method = GET, path = "/scim/v2/Groups/{id}", unpublished = true }]
    async fn scim_group_get(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: replace a group.
    #[endpoint { method = PUT, path = "/scim/v2/Groups/{id}", unpublished = true }]
    async fn scim_group_replace(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: change a group (PatchOp: members added and removed).
    #[endpoint { method = PATCH, path = "/scim/v2/Groups/{id}", unpublished = true }]
    async fn scim_group_patch(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
        body: dropshot::UntypedBody,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;

    /// SCIM: delete a group.
    #[endpoint { method = DELETE, path = "/scim/v2/Groups/{id}", unpublished = true }]
    async fn scim_group_delete(
        rqctx: RequestContext<Self::Context>,
        path: Path<ScimPath>,
    ) -> Result<Limited<http::Response<dropshot::Body>>, ApiError>;
}

/// The path segment of the unpublished alias route (`async` or `batch`).
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct IntentAliasPath {
    /// `async` or `batch`.
    pub intent_id: String,
}

/// The API's semantic version, recorded in the OpenAPI document.
pub const API_VERSION: semver::Version = semver::Version::new(0, 1, 0);

/// Tags whose operations need no credentials.
const PUBLIC_TAGS: [&str; 1] = ["system"];

/// Renders the OpenAPI document of an API description (the stub one, or
/// the server's real one: both must render identically).
pub fn render_openapi<C: dropshot::ServerContext>(
    api: &ApiDescription<C>,
) -> serde_json::Result<serde_json::Value> {
    let mut definition = api.openapi("Lictor", API_VERSION);
    definition
        .description(
            "Governance gateway for AI agents: every action an agent wants to take is \
             declared here and answered with a verdict (approve, approve_modified, \
             escalate, block) written to a tamper-evident audit log first.",
        )
        .license("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0");
    let mut document = definition.json()?;
    flatten_string_enums(&mut document);
    add_security(&mut document);
    add_access(&mut document).map_err(<serde_json::Error as serde::ser::Error>::custom)?;
    add_mcp_notification_response(&mut document);
    describe_export_responses(&mut document);
    describe_report_responses(&mut document);
    bound_integers(&mut document);
    publish_slash_paths(&mut document);
    Ok(document)
}

/// The paths the document publishes for the operations dropshot routes at
/// `/v1/intents:async` and `/v1/intents:batch`: `/v1/intents/async` and
/// `/v1/intents/batch`, as the Intent Declaration API names them. Both
/// forms are served (the slash form by the unpublished
/// `intent_declare_alias` route, which a literal segment beside
/// `{intent_id}` would conflict with in dropshot's router); the colon form
/// is the alias (docs/api.md).
pub const PUBLISHED_PATHS: [(&str, &str); 2] =
    [("/v1/intents:async", "/v1/intents/async"), ("/v1/intents:batch", "/v1/intents/batch")];

fn publish_slash_paths(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (routed, published) in PUBLISHED_PATHS {
        if let Some(item) = paths.remove(routed) {
            paths.insert(published.to_string(), item);
        }
    }
    paths.sort_keys();
}

/// Schemars states an unsigned integer's lower bound (`minimum: 0`) but
/// not its upper one, so a generated client or a fuzzer may send a number
/// the field cannot hold (`to_seq=402786109091101802496`), which is
/// refused. Every integer schema gets the bounds of its format, where it
/// has none: 64-bit ones stop at 2^63 − 1, what the store keeps.
fn bound_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            let integer = object.get("type").and_then(|t| t.as_str()) == Some("integer");
            let bounds: Option<(i64, i64)> = match object.get("format").and_then(|f| f.as_str()) {
                Some("uint8") => Some((0, i64::from(u8::MAX))),
                Some("uint16") => Some((0, i64::from(u16::MAX))),
                Some("uint32") => Some((0, i64::from(u32::MAX))),
                Some("uint64" | "uint") => Some((0, i64::MAX)),
                Some("int8") => Some((i64::from(i8::MIN), i64::from(i8::MAX))),
                Some("int16") => Some((i64::from(i16::MIN), i64::from(i16::MAX))),
                Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
                Some("int64" | "int") => Some((i64::MIN, i64::MAX)),
                _ => None,
            };
            if let (true, Some((min, max))) = (integer, bounds) {
                object.entry("minimum").or_insert_with(|| min.into());
                object.entry("maximum").or_insert_with(|| max.into());
            }
            object.values_mut().for_each(bound_integers);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Schemars writes an enum whose values have doc comments as a `oneOf` of
/// one-value string enums, which generators turn into one class per value
/// (`VerdictType0`, …). Each becomes a plain string enum — what it is —
/// with the values' descriptions kept, as a list, in its own.
fn flatten_string_enums(document: &mut serde_json::Value) {
    let Some(schemas) = document.pointer_mut("/components/schemas").and_then(|s| s.as_object_mut()) else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(variants) = schema.get("oneOf").and_then(|v| v.as_array()) else { continue };
        let mut values = Vec::new();
        let mut lines = Vec::new();
        for variant in variants {
            let single = variant.get("type").and_then(|t| t.as_str()) == Some("string")
                && variant
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| ["type", "enum", "description"].contains(&k.as_str())));
            match variant.get("enum").and_then(|e| e.as_array()).map(Vec::as_slice) {
                Some([value]) if single => {
                    let text = value.as_str().unwrap_or_default();
                    match variant.get("description").and_then(|d| d.as_str()) {
                        Some(description) => lines.push(format!("- `{text}`: {description}")),
                        None => lines.push(format!("- `{text}`")),
                    }
                    values.push(value.clone());
                }
                _ => break,
            }
        }
        if values.len() != variants.len() {
            continue;
        }
        let description = match schema.get("description").and_then(|d| d.as_str()) {
            Some(own) => format!("{own}\n\n{}", lines.join("\n")),
            None => lines.join("\n"),
        };
        *schema = serde_json::json!({"type": "string", "enum": values, "description": description});
    }
}

/// `GET /v1/admin/audit/export` streams a file, so the trait cannot type
/// its answer: the document states its media types and its typed errors.
fn describe_export_responses(document: &mut serde_json::Value) {
    if let Some(operation) =
        document.pointer_mut("/paths/~1v1~1admin~1audit~1export/get").and_then(|r| r.as_object_mut())
    {
        let file = serde_json::json!({"schema": {"type": "string"}});
        operation.insert(
            "responses".into(),
            serde_json::json!({
                "200": {
                    "description": "The export: entries 1..N and a signed checkpoint of size N (see docs/audit.md).",
                    "content": {"application/x-ndjson": file, "text/csv": file},
                },
                "4XX": {"$ref": "#/components/responses/Error"},
                "5XX": {"$ref": "#/components/responses/Error"},
            }),
        );
    }
}

/// Reports answer CSV too (`Accept: text/csv` or `format=csv`).
fn describe_report_responses(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/api/reports/") {
            continue;
        }
        if let Some(content) = item.pointer_mut("/get/responses/200/content").and_then(|c| c.as_object_mut())
        {
            content.insert("text/csv".into(), serde_json::json!({"schema": {"type": "string"}}));
        }
    }
}

/// `POST /v1/mcp` answers notifications with 202 and no body, which the
/// trait's single success status cannot express: the document says so.
fn add_mcp_notification_response(document: &mut serde_json::Value) {
    if let Some(responses) =
        document.pointer_mut("/paths/~1v1~1mcp/post/responses").and_then(|r| r.as_object_mut())
    {
        responses.insert(
            "202".into(),
            serde_json::json!({"description": "The message was a notification: accepted, no body."}),
        );
        // A message that is not valid JSON-RPC (400), or names a session
        // that ended (404), is answered in JSON-RPC, as MCP's Streamable
        // HTTP transport asks; failures before the message is read
        // (credentials, content type) in the gateway's error shape.
        responses.insert(
            "4XX".into(),
            serde_json::json!({
                "description": "A JSON-RPC error (`id: null`) for a message that is not valid JSON-RPC or \
                                names an ended session; the gateway's error for anything else.",
                "content": {"application/json": {"schema": {"anyOf": [
                    {"$ref": "#/components/schemas/JsonRpcResponse"},
                    {"$ref": "#/components/schemas/Error"}
                ]}}}
            }),
        );
    }
}

/// States on every operation who may call it (`x-lictor-roles`) and
/// whether a person needs a step-up for it (`x-lictor-step-up`), from
/// [`crate::access::OPERATIONS`]; an operation the table does not list
/// fails the rendering (nobody could call it).
fn add_access(document: &mut serde_json::Value) -> Result<(), String> {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return Ok(());
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            let Some(operation) = operation.as_object_mut() else { continue };
            let Some(id) = operation.get("operationId").and_then(|i| i.as_str()).map(str::to_string) else {
                continue;
            };
            let access =
                crate::access::access(&id).ok_or_else(|| format!("operation `{id}` has no access rule"))?;
            if access.public {
                continue;
            }
            operation.insert("x-lictor-roles".into(), serde_json::json!(access.role_names()));
            if let Some(step_up) = access.step_up {
                operation.insert("x-lictor-step-up".into(), serde_json::json!(step_up.as_str()));
            }
        }
    }
    Ok(())
}

/// Declares bearer authentication on every operation outside the public tags.
fn add_security(document: &mut serde_json::Value) {
    use serde_json::json;
    if let Some(components) = document.get_mut("components").and_then(|c| c.as_object_mut()) {
        components.insert(
            "securitySchemes".into(),
            json!({
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`lictor_live_…`, `lictor_shadow_…`, `lictor_test_…`), the superadmin key, a capability token, or a person's ID or access token (JWT) from an identity provider the deployment configured. A console session (cookie) works too, with `X-CSRF-Token` on changes (docs/operators.md)."
                }
            }),
        );
    }
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            let Some(operation) = operation.as_object_mut() else { continue };
            let public = operation.get("tags").and_then(|t| t.as_array()).is_some_and(|tags| {
                tags.iter().any(|t| PUBLIC_TAGS.contains(&t.as_str().unwrap_or_default()))
            });
            let security = if public { json!([]) } else { json!([{"bearerAuth": []}]) };
            operation.insert("security".into(), security);
        }
    }
}

/// The OpenAPI document of the contract, generated without a server.
pub fn openapi_document() -> Result<serde_json::Value, String> {
    let api = lictor_api_mod::stub_api_description().map_err(|e| e.to_string())?;
    render_openapi(&api).map_err(|e| e.to_string())
}

/// The document as checked in: pretty JSON with a trailing newline.
pub fn openapi_text() -> Result<String, String> {
    let document = openapi_document()?;
    let mut text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_tag_an_id_and_a_summary() {
        let document = openapi_document().unwrap_or_else(|e| panic!("{e}"));
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        assert!(!paths.is_empty());
        for (path, item) in paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let tags = op["tags"].as_array().map(Vec::len).unwrap_or_default();
                assert_eq!(tags, 1, "{method} {path} must have exactly one tag");
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(id.contains('_') && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{id}");
                assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{id} needs a summary");
                assert!(op["responses"]["4XX"].is_object(), "{id} must declare typed 4XX errors");
            }
        }
    }

    /// The rules the gateway enforces that a schema can state are in the
    /// schema, so that a generated client never sends, and a fuzzer never
    /// calls valid, what is refused for them (`cargo xtask schemathesis`
    /// checks the whole surface against a live gateway).
    #[test]
    fn the_schema_states_what_the_gateway_enforces() {
        let document = openapi_document().unwrap_or_else(|e| panic!("{e}"));
        let mut limits = 0;
        for (path, item) in document["paths"].as_object().cloned().unwrap_or_default() {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                for parameter in op["parameters"].as_array().cloned().unwrap_or_default() {
                    let schema = &parameter["schema"];
                    if parameter["name"] == "limit" {
                        limits += 1;
                        assert_eq!(schema["minimum"], 1, "{method} {path}: limit");
                        assert!(
                            schema["maximum"].as_u64().is_some_and(|m| m <= 5000),
                            "{method} {path}: limit"
                        );
                    }
                    if schema["type"] == "integer" {
                        assert!(
                            schema["maximum"].is_number(),
                            "{method} {path}: {} unbounded",
                            parameter["name"]
                        );
                    }
                }
            }
        }
        assert_eq!(limits, 16, "every list operation's page size");
        let schemas = &document["components"]["schemas"];
        let hex = "^[0-9a-f]{64}$";
        assert_eq!(schemas["PolicyPromote"]["properties"]["expected_hash"]["pattern"], hex);
        assert_eq!(schemas["PolicyRollback"]["properties"]["expected_hash"]["pattern"], hex);
        for name in ["Label", "Identifier", "Description"] {
            let pattern = schemas[name]["pattern"].as_str().unwrap_or_default();
            assert!(pattern.contains("\\u0000-"), "{name}: control characters: {pattern}");
        }
        for body in ["PolicyDraftWrite", "PolicyDryRunRequest"] {
            assert_eq!(schemas[body]["properties"]["modules"]["minProperties"], 1, "{body}");
        }
        assert!(
            schemas["UpstreamCreate"]["properties"]["url"]["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with("^https?://"))
        );
        // Every integration kind states its URLs, secrets and ranges.
        let kinds = schemas["IntegrationSettings"]["oneOf"].as_array().cloned().unwrap_or_default();
        assert_eq!(kinds.len(), 9, "integration kinds");
        for kind in &kinds {
            let properties = kind["properties"].as_object().cloned().unwrap_or_default();
            for (name, property) in &properties {
                if ["url", "endpoint", "authority", "webhook_url"].contains(&name.as_str()) {
                    assert_eq!(
                        property["pattern"], schemas["UpstreamCreate"]["properties"]["url"]["pattern"],
                        "{name}"
                    );
                }
                if property["writeOnly"] == true {
                    assert!(property["pattern"].is_string(), "{name}: a secret's characters");
                }
                if property["type"] == "integer" {
                    assert!(property["maximum"].is_number(), "{name} unbounded");
                }
            }
        }
        let proof = |name: &str, parameter: &str| {
            let path = format!("/v1/admin/audit/{name}");
            let params =
                document["paths"][&path]["get"]["parameters"].as_array().cloned().unwrap_or_default();
            params.iter().find(|p| p["name"] == parameter).map(|p| p["schema"]["minimum"].clone())
        };
        for (name, parameter) in [
            ("verify", "from_seq"),
            ("verify", "to_seq"),
            ("proof/inclusion", "seq"),
            ("proof/inclusion", "tree_size"),
            ("proof/consistency", "from"),
            ("proof/consistency", "to"),
        ] {
            assert_eq!(proof(name, parameter), Some(serde_json::json!(1)), "{name} {parameter}");
        }
    }

    #[test]
    fn the_checked_in_spec_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/lictor.json");
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        let current = openapi_text().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            checked_in == current,
            "openapi/lictor.json is stale: run `cargo xtask openapi` and commit the result"
        );
    }

    #[test]
    fn the_alias_route_is_not_published() {
        let document = openapi_document().unwrap_or_else(|e| panic!("{e}"));
        assert!(document["paths"]["/v1/intents/{intent_id}"].is_null());
        // The published form is the Intent Declaration API's; the colon
        // form is served as its alias.
        assert!(document["paths"]["/v1/intents/async"]["post"].is_object());
        assert!(document["paths"]["/v1/intents/batch"]["post"].is_object());
        assert!(document["paths"]["/v1/intents:async"].is_null());
    }
}
