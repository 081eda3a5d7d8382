//! Microsoft Sentinel through Azure Monitor's Logs Ingestion API.
//!
//! The gateway signs in as an Entra ID (Azure AD) service principal with
//! client credentials:
//!
//! ```text
//! POST <authority>/<tenant_id>/oauth2/v2.0/token
//! Content-Type: application/x-www-form-urlencoded
//!
//! client_id=…&client_secret=…&grant_type=client_credentials&scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default
//! ```
//!
//! and keeps the access token until five minutes before it expires (or a
//! 401 says it no longer works). Each batch is then
//!
//! ```text
//! POST <endpoint>/dataCollectionRules/<rule_id>/streams/<stream>?api-version=2023-01-01
//! Authorization: Bearer <token>
//! Content-Type: application/json
//! Content-Encoding: gzip
//!
//! [{"TimeGenerated":"…","EventId":"…","EventType":"lictor.audit.entry","Tenant":"acme","Seq":12,
//!   "Kind":"decision","Verdict":"block","AgentId":"…","Event":{…},"RawEvent":"<the event's JSON>"}, …]
//! ```
//!
//! answered `204 No Content`. A call carries at most 1 MB; 413 splits the
//! batch, 429 waits for `Retry-After`. The stream's columns are listed in
//! `docs/integrations.md` (the rule's `streamDeclarations`).

use std::time::{Duration, Instant};

use lictor_api::ids::TenantId;
use lictor_api::integrations::SentinelSink;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{BatchLimits, Destination, Outgoing, Refusal, Rendered, SinkEvent, judge, transport_error};

/// The Logs Ingestion API's version.
pub const API_VERSION: &str = "2023-01-01";

/// The scope of Azure Monitor's ingestion (public cloud).
pub const SCOPE: &str = "https://monitor.azure.com//.default";

/// The public cloud's authority.
pub const AUTHORITY: &str = "https://login.microsoftonline.com";

/// A call's limit (1 MB), with room for the records' columns.
const MAX_BYTES: usize = 1_000_000 / 3;

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// A Sentinel destination.
pub struct SentinelDestination {
    ingest_url: reqwest::Url,
    token_url: reqwest::Url,
    client_id: String,
    client_secret: String,
    scope: String,
    client: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl SentinelDestination {
    /// The destination `settings` describe.
    pub fn new(settings: &SentinelSink, client: reqwest::Client) -> Result<SentinelDestination, String> {
        let endpoint = settings.endpoint.trim_end_matches('/');
        let mut ingest_url = super::settings::url(
            &format!("{endpoint}/dataCollectionRules/{}/streams/{}", settings.rule_id, settings.stream),
            "endpoint",
        )?;
        ingest_url.query_pairs_mut().append_pair("api-version", API_VERSION);
        let authority = settings.authority.as_deref().unwrap_or(AUTHORITY).trim_end_matches('/');
        let token_url = super::settings::url(
            &format!("{authority}/{}/oauth2/v2.0/token", settings.tenant_id),
            "authority",
        )?;
        Ok(SentinelDestination {
            ingest_url,
            token_url,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone().ok_or("`client_secret` is required")?,
            scope: settings.scope.clone().unwrap_or_else(|| SCOPE.to_string()),
            client,
            token: Mutex::new(None),
        })
    }

    /// A token valid for at least [`RENEW_BEFORE`], from the cache or
    /// Entra ID.
    async fn token(&self) -> Result<String, Refusal> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && expires.saturating_duration_since(Instant::now()) > RENEW_BEFORE
        {
            return Ok(token.clone());
        }
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", self.scope.as_str()),
        ];
        let response = self
            .client
            .post(self.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        // A refused sign-in is the configuration's fault, never the batch's.
        let response = match judge(response).await {
            Ok(response) => response,
            Err(Refusal::Reject { status, message } | Refusal::Retry { status, message, after: _ }) => {
                return Err(Refusal::Retry {
                    status,
                    message: format!("Entra ID refused the service principal's sign-in: {message}"),
                    after: None,
                });
            }
        };
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| Refusal::transport(format!("unreadable token answer from Entra ID: {e}")))?;
        let expires = Instant::now() + Duration::from_secs(answer.expires_in);
        *cached = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    fn records(tenant: &TenantId, batch: &[Rendered]) -> Vec<u8> {
        super::json_array(batch, |rendered| {
            let event: serde_json::Value = serde_json::from_slice(&rendered.json).unwrap_or_default();
            let time =
                rendered.event.time().to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let (seq, kind, verdict, agent) = match &rendered.event {
                SinkEvent::Entry { seq, entry, .. } => (
                    *seq,
                    serde_json::to_value(entry.kind).unwrap_or_default(),
                    serde_json::to_value(entry.verdict).unwrap_or_default(),
                    serde_json::to_value(&entry.agent_id).unwrap_or_default(),
                ),
                SinkEvent::Checkpoint { checkpoint, .. } => (
                    checkpoint.tree_size,
                    "checkpoint".into(),
                    serde_json::Value::Null,
                    serde_json::Value::Null,
                ),
            };
            serde_json::json!({
                "TimeGenerated": time,
                "EventId": rendered.event.id(),
                "EventType": rendered.event.type_name(),
                "Tenant": tenant,
                "Seq": seq,
                "Kind": kind,
                "Verdict": verdict,
                "AgentId": agent,
                "Event": event,
                "RawEvent": String::from_utf8_lossy(&rendered.json),
            })
        })
    }
}

#[async_trait::async_trait]
impl Destination for SentinelDestination {
    fn limits(&self) -> BatchLimits {
        BatchLimits { events: 10_000, bytes: MAX_BYTES, per_event: 300 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let (tenant, batch) = (outgoing.tenant, outgoing.events);
        let token = self.token().await?;
        let request = self.client.post(self.ingest_url.clone()).bearer_auth(token);
        let sent = super::send_gzipped_json(request, &Self::records(tenant, batch)).await;
        if let Err(Refusal::Retry { status: Some(401), .. }) = &sent {
            // Revoked or expired early: sign in again next time.
            *self.token.lock().await = None;
        }
        sent
    }
}
