//! What the SDK checks without the gateway, with the gateway's own
//! implementation (`lictor-offline`): narrowing tokens, webhook
//! signatures, audit exports.

use std::io::{BufReader, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lictor_offline::audit::checkpoint::NoteVerifier;
pub use lictor_offline::audit::export::TrustedCheckpoint;
use lictor_offline::audit::export::{self, ExportReport, KeysError};
use lictor_offline::token::{self, Restrictions};
pub use lictor_offline::token::{CapabilityToken, Caveat, TokenError};
use lictor_offline::webhook;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::generated::types;

/// Why a webhook delivery does not verify: `malformed_header`, `expired`
/// or `signature_mismatch` (see [`WebhookError::code`]).
pub use lictor_offline::webhook::SignatureError as WebhookError;

/// The first place an audit export does not verify: its `reason`, the
/// `seq` concerned and the line.
pub use lictor_offline::audit::export::ExportFailure as AuditExportError;

/// Why a token could not be attenuated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AttenuationError {
    /// The token, or the token it would become, breaks a rule of the
    /// format (`docs/tokens.md`); [`TokenError::code`] is the stable code.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A restriction asked for cannot be expressed.
    #[error("invalid attenuation: {0}")]
    Invalid(String),
}

/// Restrictions to add to a capability token. Every field narrows; empty
/// fields add nothing. The caveats are appended in field order, after a
/// `hop` to the new jti.
#[derive(Clone, Debug, Default)]
pub struct Attenuation {
    /// The new token's jti; a random one when absent.
    pub jti: Option<String>,
    /// Globs of tool names it may call (`github.*`).
    pub tools: Vec<String>,
    /// Globs of tool names it may not call (only with `tools`).
    pub deny_tools: Vec<String>,
    /// Upstream servers it may reach.
    pub servers: Vec<String>,
    /// Action types it may declare.
    pub action_types: Vec<types::ActionType>,
    /// At most this many allowed calls (shared by tokens derived from it).
    pub max_calls: Option<u64>,
    /// At most this much summed financial exposure, in US dollars (kept in
    /// whole cents, rounded to the nearest cent).
    pub max_usd: Option<f64>,
    /// At most this many allowed calls per calendar minute.
    pub rate_per_min: Option<u64>,
    /// Valid for this long from now.
    pub expires_in: Option<Duration>,
    /// Valid until this Unix time (the earlier of this and `expires_in`
    /// wins, as every caveat must hold).
    pub expires_at: Option<i64>,
    /// Only at the gateway with this audience.
    pub audience: Option<String>,
    /// Caveats appended verbatim after the ones above.
    pub caveats: Vec<Caveat>,
}

impl Attenuation {
    /// The caveats this attenuation appends (after the hop), at `now`:
    /// the gateway's own builder (`lictor_offline::token::Restrictions`),
    /// so the SDK, `lictor token attenuate` and the mint endpoint agree.
    pub fn to_caveats(&self, now: i64) -> Result<Vec<Caveat>, AttenuationError> {
        let invalid = AttenuationError::Invalid;
        let mut expires = Vec::new();
        if let Some(duration) = self.expires_in {
            let seconds =
                i64::try_from(duration.as_secs()).map_err(|_| invalid("`expires_in` is too long".into()))?;
            expires.push(now.saturating_add(seconds));
        }
        expires.extend(self.expires_at);
        let action_types = match self.action_types.is_empty() {
            true => None,
            false => Some(
                serde_json::to_value(&self.action_types)
                    .and_then(serde_json::from_value)
                    .map_err(|e| invalid(format!("action types: {e}")))?,
            ),
        };
        let list = |items: &Vec<String>| (!items.is_empty()).then(|| items.clone());
        let restrictions = Restrictions {
            expires,
            tools: list(&self.tools),
            deny_tools: list(&self.deny_tools),
            servers: list(&self.servers),
            action_types,
            max_calls: self.max_calls,
            max_usd: self.max_usd,
            rate_per_min: self.rate_per_min,
            step_up_at: None,
            audience: self.audience.clone(),
        };
        let mut caveats = restrictions.to_caveats().map_err(|e| invalid(e.message))?;
        caveats.extend(self.caveats.iter().cloned());
        Ok(caveats)
    }
}

/// Narrows `token` offline — no key, no gateway: appends a hop to a new jti
/// and the caveats of `attenuation`. The result never grants more than
/// `token`; the gateway checks its signature when it is used.
pub fn attenuate(token: &str, attenuation: &Attenuation) -> Result<String, AttenuationError> {
    let jti = attenuation.jti.clone().unwrap_or_else(|| format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let caveats = attenuation.to_caveats(unix_now())?;
    Ok(token::attenuate(token, &jti, &caveats)?)
}

/// Parses `token` without a key — structure, canonical form, limits and
/// the jti chain — so an agent can read its header and caveats (e.g. check
/// [`CapabilityToken::expires_at`] early). Only the gateway can verify the
/// signature; it also evaluates every caveat.
pub fn parse_token(token: &str) -> Result<CapabilityToken, TokenError> {
    CapabilityToken::parse(token)
}

/// Verifies a webhook delivery (`Lictor-Signature` header `header`, raw
/// body `body`) with the tenant's webhook secret, against this machine's
/// clock with five minutes of tolerance.
pub fn verify_webhook(secret: &str, header: &str, body: &[u8]) -> Result<(), WebhookError> {
    verify_webhook_at(secret, header, body, unix_now(), 300)
}

/// [`verify_webhook`] at the Unix time `now`, with `tolerance_seconds`.
pub fn verify_webhook_at(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), WebhookError> {
    webhook::verify_signature(secret, header, body, now, tolerance_seconds)
}

/// Checkpoint keys from `text`: the JSON of `GET /.well-known/lictor/keys`
/// or verifier keys, one per line.
pub fn parse_audit_keys(text: &str) -> Result<Vec<NoteVerifier>, KeysError> {
    export::parse_keys(text)
}

/// Verifies an audit export (NDJSON or CSV) read from `reader` in one pass,
/// in constant memory: every entry, the chain, every checkpoint signed by
/// one of `keys` and the consistency proofs between them, and the last
/// checkpoint covering exactly those entries.
pub fn verify_audit_export(
    reader: impl Read,
    keys: &[NoteVerifier],
) -> Result<ExportReport, AuditExportError> {
    export::verify_export(BufReader::new(reader), keys, |_| {})
}

/// [`verify_audit_export`], and also that the export extends `trusted`, a
/// checkpoint saved earlier (by `lictor audit monitor`, or a checkpoint's
/// `note`): what shows a truncation or rewrite whose checkpoints were
/// deleted or re-signed. Open it with [`TrustedCheckpoint::open`].
pub fn verify_audit_export_trusting(
    reader: impl Read,
    keys: &[NoteVerifier],
    trusted: &TrustedCheckpoint,
) -> Result<ExportReport, AuditExportError> {
    export::verify_export_trusting(BufReader::new(reader), keys, Some(trusted), |_| {})
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Gateway {
    /// The gateway's published audit checkpoint keys
    /// (`GET /.well-known/lictor/keys`). Pin them out of band for a
    /// verification that does not trust this connection.
    pub async fn audit_keys(&self) -> Result<Vec<NoteVerifier>, Error> {
        let keys = self.retrying(|| self.api().public_keys().send()).await?;
        let text = serde_json::to_string(&keys)
            .map_err(|e| Error::Unexpected { status: 200, body: e.to_string() })?;
        parse_audit_keys(&text).map_err(|e| Error::Unexpected { status: 200, body: e.to_string() })
    }

    /// Downloads the tenant's audit export (`ndjson` or `csv`) into memory.
    /// `tenant` is needed with the superadmin key only.
    pub async fn audit_export(
        &self,
        format: types::ExportFormatName,
        tenant: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        use futures::TryStreamExt as _;
        let tenant = tenant
            .map(|t| {
                types::TenantId::try_from(t).map_err(|e| Error::InvalidArgument(format!("tenant `{t}`: {e}")))
            })
            .transpose()?;
        let stream = self
            .retrying(|| {
                let mut call = self.api().audit_export().format(format);
                if let Some(tenant) = &tenant {
                    call = call.tenant(tenant.clone());
                }
                call.send()
            })
            .await?;
        let chunks: Vec<bytes::Bytes> =
            stream.into_inner().try_collect().await.map_err(|e| Error::Transport(e.to_string()))?;
        Ok(chunks.concat())
    }
}
