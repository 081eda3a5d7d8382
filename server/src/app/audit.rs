//! `/v1/admin/audit`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use lictor_api::ApiError;
use lictor_api::audit::{
    AuditCheckpoint, AuditCheckpointPage, AuditEntryPage, AuditListParams, AuditPayload, AuditVerification,
    AuditVerifyParams, CheckpointListParams, ConsistencyProof, ConsistencyProofParams, ExportFormatName,
    ExportParams, InclusionProof, InclusionProofParams, PayloadParams, PayloadPath, PublicKey, PublicKeys,
};
use lictor_api::ids::TenantId;

use crate::audit::checkpointer::AnchorError;
use crate::audit::export::ExportFormat;
use crate::audit::merkle;
use crate::audit::stream::{ExportSink, write_export};
use crate::audit::verify::{verify_log, view};
use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::store::{AuditFilter, decode_hash};

const LIST: &str = "audit";
const CHECKPOINTS: &str = "checkpoints";

/// `GET /v1/admin/audit`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<AuditListParams, ApiError>,
) -> Result<AuditEntryPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let limit = cursor::limit(params.limit)?;
    let after: Option<u64> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let filter = AuditFilter {
        agent_id: params.agent_id,
        verdict: params.verdict,
        stage: params.stage,
        kind: params.kind,
        intent_id: params.intent_id,
        jti: params.jti,
        from: params.from.map(Timestamp::from_datetime),
        to: params.to.map(Timestamp::from_datetime),
    };
    let rows = caller.state.store.list_audit_entries(&tenant, &filter, after.unwrap_or(0), limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| r.record.seq);
    Ok(AuditEntryPage { items: rows.into_iter().map(|r| r.record.to_entry(r.hash)).collect(), next_cursor })
}

fn invalid(parameter: &str, message: String) -> Error {
    Error::InvalidParameter { parameter: parameter.into(), message }
}

fn anchor_error(error: AnchorError) -> Error {
    match error {
        AnchorError::Store(error) => error.into(),
        AnchorError::Refused { tenant, failure } => Error::conflict(
            Object::AuditLog,
            tenant,
            format!(
                "does not verify ({} at entry {}): nothing is signed over it; \
                 `GET /v1/admin/audit/verify` shows where",
                failure.reason, failure.seq
            ),
        ),
        other => Error::Internal(other.to_string()),
    }
}

/// `GET /v1/admin/audit/verify`.
pub(crate) async fn verify(
    caller: &Caller<'_>,
    params: Result<AuditVerifyParams, ApiError>,
) -> Result<AuditVerification, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let range = match (params.from_seq, params.to_seq) {
        (None, None) => None,
        (from, to) => {
            let head = caller.state.store.audit_head(&tenant).await?.map(|h| h.seq).unwrap_or(0);
            let from = from.unwrap_or(1);
            let to = to.unwrap_or(head);
            if from == 0 || from > head {
                return Err(invalid(
                    "from_seq",
                    format!("`from_seq` must be between 1 and the head ({head})"),
                ));
            }
            if to < from || to > head {
                return Err(invalid(
                    "to_seq",
                    format!("`to_seq` must be between `from_seq` and the head ({head})"),
                ));
            }
            Some((from, to))
        }
    };
    verify_log(&caller.state.store, &caller.state.checkpoints, &tenant, range).await.map_err(anchor_error)
}

/// `GET /v1/admin/audit/checkpoints`.
pub(crate) async fn checkpoints(
    caller: &Caller<'_>,
    params: Result<CheckpointListParams, ApiError>,
) -> Result<AuditCheckpointPage, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let before: Option<u64> = cursor::decode_opt(CHECKPOINTS, params.cursor.as_deref())?;
    let rows = caller.state.store.list_checkpoints(&tenant, before, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(CHECKPOINTS, rows, limit, |r| r.tree_size);
    Ok(AuditCheckpointPage { items: rows.iter().map(view).collect(), next_cursor })
}

/// `GET /v1/admin/audit/checkpoints/latest`.
pub(crate) async fn latest_checkpoint(
    caller: &Caller<'_>,
    params: Result<AuditVerifyParams, ApiError>,
) -> Result<AuditCheckpoint, Error> {
    let (_, tenant, _) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    let latest = caller.state.store.list_checkpoints(&tenant, None, 1).await?;
    latest.first().map(view).ok_or_else(|| Error::not_found(Object::Checkpoint, tenant))
}

/// The tree size to prove against: the one asked for (at most the tree's
/// current size), or the latest checkpoint's.
async fn proof_size(
    caller: &Caller<'_>,
    tenant: &TenantId,
    asked: Option<u64>,
    parameter: &str,
) -> Result<u64, Error> {
    let current = caller.state.store.audit_tree_state(tenant).await?.map(|(_, tree)| tree.size).unwrap_or(0);
    match asked {
        Some(size) if size == 0 || size > current => Err(invalid(
            parameter,
            format!("`{parameter}` must be between 1 and the tree's size ({current})"),
        )),
        Some(size) => Ok(size),
        None => {
            let latest = caller.state.store.list_checkpoints(tenant, None, 1).await?;
            latest.first().map(|c| c.tree_size).ok_or_else(|| {
                invalid(parameter, format!("tenant `{tenant}` has no checkpoint yet: name `{parameter}`"))
            })
        }
    }
}

/// `GET /v1/admin/audit/proof/inclusion`.
pub(crate) async fn inclusion_proof(
    caller: &Caller<'_>,
    params: Result<InclusionProofParams, ApiError>,
) -> Result<InclusionProof, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let tree_size = proof_size(caller, &tenant, params.tree_size, "tree_size").await?;
    if params.seq == 0 || params.seq > tree_size {
        return Err(invalid("seq", format!("`seq` must be between 1 and the tree size ({tree_size})")));
    }
    let entry = caller
        .state
        .store
        .audit_entries_after(&tenant, params.seq - 1, 1)
        .await?
        .into_iter()
        .next()
        .and_then(Result::ok)
        .filter(|row| row.record.seq == params.seq)
        .ok_or_else(|| Error::not_found(Object::AuditEntry, params.seq))?;
    let checkpoints = &caller.state.checkpoints;
    let proof =
        checkpoints.inclusion_proof(&tenant, params.seq - 1, tree_size).await.map_err(anchor_error)?;
    let root = checkpoints.root(&tenant, tree_size).await.map_err(anchor_error)?;
    let leaf = merkle::leaf_hash(&decode_hash(&entry.hash)?);
    Ok(InclusionProof {
        tenant: tenant.clone(),
        seq: params.seq,
        leaf_index: params.seq - 1,
        tree_size,
        entry_hash: entry.hash,
        leaf_hash: hex::encode(leaf),
        root_hash: hex::encode(root),
        proof: proof.iter().map(hex::encode).collect(),
        checkpoint: caller.state.store.get_checkpoint(&tenant, tree_size).await?.as_ref().map(view),
    })
}

/// `GET /v1/admin/audit/proof/consistency`.
pub(crate) async fn consistency_proof(
    caller: &Caller<'_>,
    params: Result<ConsistencyProofParams, ApiError>,
) -> Result<ConsistencyProof, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let to = proof_size(caller, &tenant, params.to, "to").await?;
    if params.from == 0 || params.from > to {
        return Err(invalid("from", format!("`from` must be between 1 and `to` ({to})")));
    }
    let checkpoints = &caller.state.checkpoints;
    let proof = checkpoints.consistency_proof(&tenant, params.from, to).await.map_err(anchor_error)?;
    Ok(ConsistencyProof {
        tenant: tenant.clone(),
        from: params.from,
        to,
        from_root: hex::encode(checkpoints.root(&tenant, params.from).await.map_err(anchor_error)?),
        to_root: hex::encode(checkpoints.root(&tenant, to).await.map_err(anchor_error)?),
        proof: proof.iter().map(hex::encode).collect(),
    })
}

/// `GET /.well-known/lictor/keys`: public, unauthenticated.
pub(crate) async fn keys(caller: &Caller<'_>) -> Result<PublicKeys, Error> {
    let mut keys: Vec<PublicKey> = caller
        .state
        .checkpoints
        .keys()
        .iter()
        .map(|key| PublicKey {
            purpose: "audit-checkpoint".into(),
            algorithm: "ed25519".into(),
            name: key.verifier.name.clone(),
            key_id: hex::encode(key.verifier.id),
            public_key: STANDARD.encode(key.verifier.public_key()),
            vkey: key.verifier.to_vkey(),
            created_at: key.created_at.to_datetime(),
        })
        .collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    Ok(PublicKeys { keys })
}

fn check_digest(digest: &str) -> Result<(), Error> {
    if digest.len() == 64 && digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(invalid("digest", "`digest` must be 64 lowercase hex digits".into()))
    }
}

/// `GET /v1/admin/audit/payloads/{digest}`.
pub(crate) async fn payload(
    caller: &Caller<'_>,
    path: Result<PayloadPath, ApiError>,
    params: Result<PayloadParams, ApiError>,
) -> Result<AuditPayload, Error> {
    let (_, tenant, (path, _)) = caller.admin((path, params), |(_, params)| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    check_digest(&path.digest)?;
    let (body, erased_at, erased_by) = caller
        .state
        .store
        .get_audit_payload(&tenant, &path.digest)
        .await?
        .ok_or_else(|| Error::not_found(Object::Payload, &path.digest))?;
    let body = match erased_at {
        Some(_) => None,
        None => {
            Some(serde_json::from_str(&body).map_err(|e| Error::Internal(format!("stored payload: {e}")))?)
        }
    };
    Ok(AuditPayload {
        digest: path.digest,
        body,
        erased_at: erased_at.map(Timestamp::to_datetime),
        erased_by,
    })
}

/// `DELETE /v1/admin/audit/payloads/{digest}`: erases the body; the chain
/// keeps the digest, and the erasure is itself an entry.
pub(crate) async fn erase_payload(
    caller: &Caller<'_>,
    path: Result<PayloadPath, ApiError>,
    params: Result<PayloadParams, ApiError>,
) -> Result<(), Error> {
    let (principal, tenant, (path, params)) =
        caller.admin((path, params), |(_, params)| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    check_digest(&path.digest)?;
    let reason = params.reason.unwrap_or_default();
    if reason.chars().count() > 500 {
        return Err(invalid("reason", "`reason` must be at most 500 characters".into()));
    }
    if caller.state.store.get_audit_payload(&tenant, &path.digest).await?.is_none() {
        return Err(Error::not_found(Object::Payload, &path.digest));
    }
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::ErasePayload { digest: path.digest.clone(), reason },
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::conflict(Object::Payload, &path.digest, "is already erased")),
        _ => Ok(()),
    }
}

/// The export's body: each chunk a frame.
struct Chunks(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl ExportSink for Chunks {
    async fn send(&mut self, chunk: Vec<u8>) -> bool {
        self.0.send(Ok(Bytes::from(chunk))).await.is_ok()
    }
}

/// An export being written: its media type, the file name to offer, and
/// its bytes as they are produced (an `Err` ends a broken export).
pub(crate) struct Export {
    /// `application/x-ndjson` or `text/csv`.
    pub content_type: &'static str,
    /// `lictor-audit-<tenant>-<entries>.<ext>`.
    pub filename: String,
    /// The chunks, in order.
    pub chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

/// `GET /v1/admin/audit/export`: entries 1..N and a checkpoint of size N
/// (signed now if none covers the current head), streamed page by page in
/// constant memory. A failure mid-stream ends the body early, so the file
/// lacks its checkpoint and fails verification rather than passing short.
pub(crate) async fn export(
    caller: &Caller<'_>,
    params: Result<ExportParams, ApiError>,
) -> Result<Export, Error> {
    let (_, tenant, params) = caller.admin(params, |params| params.tenant.as_ref()).await?;
    // Every answered tool call's entry is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let format = match params.format.unwrap_or_default() {
        ExportFormatName::Ndjson => ExportFormat::Ndjson,
        ExportFormatName::Csv => ExportFormat::Csv,
    };
    let checkpoint = caller.state.checkpoints.at_head(&tenant).await.map_err(anchor_error)?;
    let filename = format!("lictor-audit-{tenant}-{}.{}", checkpoint.tree_size, format.file_extension());
    let (sender, chunks) = tokio::sync::mpsc::channel(8);
    let (store, checkpoints) = (caller.state.store.clone(), caller.state.checkpoints.clone());
    tokio::spawn(async move {
        let mut sink = Chunks(sender);
        let written = write_export(&store, &checkpoints, &tenant, &checkpoint, format, &mut sink).await;
        if let Err(error) = written {
            // The stream fails: the client sees a broken download, not a
            // short one.
            let _ = sink.0.send(Err(std::io::Error::other(error))).await;
        }
    });
    Ok(Export { content_type: format.content_type(), filename, chunks })
}
