//! A witness of a gateway's checkpoints: `lictor audit monitor`.
//!
//! Each run fetches the tenant's latest signed checkpoint, opens it with
//! keys the witness pinned (never fetched from the gateway it watches),
//! and proves it extends the checkpoint saved by the previous run — with
//! a consistency proof the gateway serves and the witness checks against
//! the two signed roots. Then it saves the new one. Kept outside the
//! gateway's machine and database, the saved checkpoint is what shows a
//! rewrite of checkpointed history, a truncation, or deleted checkpoints:
//! the gateway can no longer prove its log extends what the witness saw.

use std::path::{Path, PathBuf};

use lictor_api::audit::{AuditCheckpoint, ConsistencyProof};

use super::checkpoint::{Checkpoint, NoteVerifier};
use super::export::TrustedCheckpoint;
use super::merkle::{self, Hash};

/// What a run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witnessed {
    /// No checkpoint was saved yet: this one is now.
    First {
        /// Its size.
        size: u64,
    },
    /// The same checkpoint as last time.
    Unchanged {
        /// Its size.
        size: u64,
    },
    /// The log grew, consistently.
    Extended {
        /// The size saved before.
        from: u64,
        /// The size saved now.
        to: u64,
    },
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The log is not consistent with what was seen before, or the
    /// checkpoint is not signed by a pinned key (exit 1).
    #[error("INCONSISTENT: {0}")]
    Inconsistent(String),
    /// The gateway, the keys or the state could not be read: no verdict
    /// (exit 2).
    #[error("{0}")]
    Unavailable(String),
}

/// The witness of one tenant's log.
#[derive(Debug)]
pub struct Monitor {
    url: String,
    api_key: String,
    tenant: Option<String>,
    keys: Vec<NoteVerifier>,
    client: reqwest::Client,
}

fn unavailable(what: impl std::fmt::Display) -> MonitorError {
    MonitorError::Unavailable(what.to_string())
}

fn decode(hex_text: &str) -> Option<Hash> {
    hex::decode(hex_text).ok().and_then(|raw| raw.try_into().ok())
}

impl Monitor {
    /// A witness of the gateway at `url`, reading with `api_key` (a
    /// tenant admin's, or the superadmin's naming `tenant`), trusting
    /// checkpoints signed by `keys`, over TLS verified against the
    /// system's roots and `roots`.
    pub fn new(
        url: &str,
        api_key: &str,
        tenant: Option<String>,
        (keys, roots): (Vec<NoteVerifier>, &crate::tls::OutboundRoots),
    ) -> Result<Monitor, MonitorError> {
        let client = roots
            .apply(reqwest::Client::builder())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| unavailable(format!("cannot build an HTTP client: {e}")))?;
        let url = url.trim_end_matches('/').to_string();
        Ok(Monitor { url, api_key: api_key.to_string(), tenant, keys, client })
    }

    /// `GET path?query`: the answer, or `None` for 404.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, MonitorError> {
        let mut query = query.to_vec();
        if let Some(tenant) = &self.tenant {
            query.push(("tenant", tenant.clone()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), &query)
            .map_err(|e| unavailable(format!("`{}` is not a URL: {e}", self.url)))?;
        let response = self
            .client
            .get(url.clone())
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| unavailable(format!("GET {url}: {e}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| unavailable(format!("GET {url}: {e}")))?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(unavailable(format!("GET {url}: {status}: {message}")));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| unavailable(format!("GET {url}: unexpected answer: {e}")))
    }

    /// Opens `note` with the pinned keys.
    fn open(&self, note: &str, whose: &str) -> Result<Checkpoint, String> {
        TrustedCheckpoint::open(note, &self.keys)
            .map(|trusted| trusted.checkpoint().clone())
            .map_err(|why| format!("{whose}: {why}"))
    }

    /// One run: fetch, prove, save. The state is replaced only when the
    /// new checkpoint is proven consistent with it.
    pub async fn run(&self, state: &Path) -> Result<Witnessed, MonitorError> {
        let saved = match std::fs::read_to_string(state) {
            Ok(note) => Some(
                self.open(&note, &format!("the saved checkpoint `{}`", state.display()))
                    .map_err(unavailable)?,
            ),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(unavailable(format!("cannot read `{}`: {error}", state.display()))),
        };
        let latest: Option<AuditCheckpoint> = self.get("/v1/admin/audit/checkpoints/latest", &[]).await?;
        let latest = match (latest, &saved) {
            (Some(latest), _) => latest,
            (None, None) => return Err(unavailable("the gateway has signed no checkpoint of this log yet")),
            (None, Some(old)) => {
                // A wrong URL or tenant is not a deleted log: the gateway
                // must still know the log for this to be its answer.
                let log: Option<serde_json::Value> = self.get("/v1/admin/audit/verify", &[]).await?;
                if log.is_none() {
                    return Err(unavailable(format!("{}: no such audit log", self.url)));
                }
                return Err(MonitorError::Inconsistent(format!(
                    "the gateway has no checkpoint, one of {} entries was seen before: \
                     its checkpoints were deleted",
                    old.tree_size
                )));
            }
        };
        let new =
            self.open(&latest.note, "the gateway's latest checkpoint").map_err(MonitorError::Inconsistent)?;
        let outcome = match &saved {
            None => Witnessed::First { size: new.tree_size },
            Some(old) => self.prove(old, &new).await?,
        };
        if outcome != (Witnessed::Unchanged { size: new.tree_size }) {
            save(state, &latest.note)?;
        }
        Ok(outcome)
    }

    /// Proves `new` extends `old`.
    async fn prove(&self, old: &Checkpoint, new: &Checkpoint) -> Result<Witnessed, MonitorError> {
        let inconsistent = MonitorError::Inconsistent;
        if new.origin != old.origin {
            return Err(inconsistent(format!(
                "the latest checkpoint is of `{}`, the saved one of `{}`",
                new.origin, old.origin
            )));
        }
        if new.tree_size < old.tree_size {
            return Err(inconsistent(format!(
                "the latest checkpoint covers {} entries, one seen before covered {}: \
                 the log was cut or its checkpoints deleted",
                new.tree_size, old.tree_size
            )));
        }
        if new.tree_size == old.tree_size {
            if new.root_hash != old.root_hash {
                return Err(inconsistent(format!(
                    "two checkpoints of {} entries with different roots: the log was rewritten",
                    new.tree_size
                )));
            }
            return Ok(Witnessed::Unchanged { size: new.tree_size });
        }
        if old.tree_size == 0 {
            return Ok(Witnessed::Extended { from: 0, to: new.tree_size });
        }
        let query = [("from", old.tree_size.to_string()), ("to", new.tree_size.to_string())];
        let answer: ConsistencyProof = self
            .get("/v1/admin/audit/proof/consistency", &query)
            .await?
            .ok_or_else(|| inconsistent(format!("the gateway has no tree of {} entries", new.tree_size)))?;
        let proof = answer
            .proof
            .iter()
            .map(|h| decode(h))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| inconsistent("the consistency proof is not a list of hashes".into()))?;
        merkle::verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, &proof)
            .map_err(|e| {
                inconsistent(format!(
                    "the gateway cannot prove its checkpoint of {} extends the one of {} seen before ({e}): \
                     the log was rewritten",
                    new.tree_size, old.tree_size
                ))
            })?;
        Ok(Witnessed::Extended { from: old.tree_size, to: new.tree_size })
    }
}

/// Replaces the state file with `note`, atomically (write beside, rename).
fn save(state: &Path, note: &str) -> Result<(), MonitorError> {
    let mut aside = PathBuf::from(state);
    aside.set_extension("tmp");
    std::fs::write(&aside, note)
        .and_then(|()| std::fs::rename(&aside, state))
        .map_err(|e| unavailable(format!("cannot save `{}`: {e}", state.display())))
}
