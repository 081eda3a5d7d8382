//! The audit log against someone who can write the deployment's database
//! (`--disruptive`, through `--hook-sql`): each case provisions a tenant of
//! its own, lets a witness save a checkpoint, tampers with the tenant's
//! rows the way an attacker would — recomputing every hash with the
//! documented formula — and then requires that the API's verification
//! fail, that no export verify against the key pinned before, and, where
//! only a witness can tell, that the witness (`lictor audit monitor`) does.
//!
//! The tampered tenants stay, refused: the deployment's readiness counts
//! them in `audit_logs_refused`.

use lictor_api::audit::AuditEntry;
use lictor_client::verify_audit_export;
use lictor_offline::audit::AuditRecord;
use lictor_offline::audit::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use lictor_server::audit::monitor::{Monitor, MonitorError};
use serde_json::json;

use crate::{Case, CaseFuture, Context, Failure, Group, check, failed, raw};

pub(super) fn cases() -> Vec<Case> {
    let case = |id, title, run| Case {
        id,
        group: Group::Audit,
        title,
        disruptive: true,
        operations: &["audit_verify", "audit_export", "audit_checkpoint_latest", "audit_consistency_proof"],
        run,
    };
    vec![
        case(
            "audit.tamper_rewrite_recomputed",
            "an old entry edited and every later hash and the head recomputed: the signed checkpoints refuse it",
            rewrite_recomputed,
        ),
        case(
            "audit.tamper_rewrite_checkpoints_deleted",
            "a rewrite with every checkpoint deleted: the head's seal refuses it, the witness sees the checkpoints gone",
            rewrite_checkpoints_deleted,
        ),
        case(
            "audit.tamper_append_forged",
            "a forged entry appended, chained with the documented formula: the head's seal refuses it",
            append_forged,
        ),
        case(
            "audit.tamper_truncate_tail",
            "the entries after the last checkpoint deleted and the head moved back: the head's seal refuses it",
            truncate_tail,
        ),
        case(
            "audit.tamper_truncate_checkpointed",
            "entries a checkpoint covers deleted and the head moved back: the checkpoint refuses it",
            truncate_checkpointed,
        ),
        case(
            "audit.tamper_foreign_key",
            "a rewrite re-signed with another key: the pinned key and the witness refuse it",
            foreign_key,
        ),
    ]
}

/// A tenant of the case's own, with a log, a pinned key and a witness.
struct Target<'c> {
    ctx: &'c Context,
    tenant: String,
    live_key: String,
    keys: Vec<NoteVerifier>,
    witness: tempfile::TempDir,
}

fn sql_text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl<'c> Target<'c> {
    async fn provision(ctx: &'c Context, name: &str) -> Result<Target<'c>, Failure> {
        let root = ctx.superadmin_key();
        let tenant = format!("{}-{name}", ctx.tenant);
        let (status, body, repro) =
            raw(ctx, "POST", "/v1/admin/tenants", root, Some(&json!({"id": tenant, "name": "tampered"})))
                .await?;
        check(status == 201, || format!("creating tenant `{tenant}`: {status} {body}"), Some(repro))?;
        let key = json!({"tenant": tenant, "environment": "live", "role": "agent", "name": "tamper"});
        let (status, body, repro) = raw(ctx, "POST", "/v1/admin/api-keys", root, Some(&key)).await?;
        check(status == 201, || format!("creating a key: {status} {body}"), Some(repro))?;
        let live_key = body["key"].as_str().unwrap_or_default().to_string();
        let agent = json!({"id": "tamper-agent", "name": "Tamper agent", "owner": "conformance"});
        let (status, body, repro) =
            raw(ctx, "POST", &format!("/v1/agents?tenant={tenant}"), root, Some(&agent)).await?;
        check(status == 201, || format!("registering the agent: {status} {body}"), Some(repro))?;
        let (gw, _) = ctx.client(root);
        let keys = gw.audit_keys().await.map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
        let witness = tempfile::tempdir().map_err(|e| failed("a witness directory", e, None))?;
        Ok(Target { ctx, tenant, live_key, keys, witness })
    }

    /// Declares `n` intents: reads (approved) and transfers (blocked).
    async fn decide(&self, n: usize) -> Result<(), Failure> {
        for i in 0..n {
            let action = if i % 2 == 0 {
                json!({"type": "access", "verb": "read"})
            } else {
                json!({"type": "transact", "verb": "transfer",
                       "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}})
            };
            let body = json!({"intent": {"agent": {"id": "tamper-agent"}, "action": action}});
            let (status, answer, repro) =
                raw(self.ctx, "POST", "/v1/intents", &self.live_key, Some(&body)).await?;
            check(status == 200, || format!("declaring: {status} {answer}"), Some(repro))?;
        }
        Ok(())
    }

    /// Exports the log (which signs a checkpoint at its head): the bytes,
    /// or `None` when the gateway refuses (`409`).
    async fn export(&self) -> Result<Option<Vec<u8>>, Failure> {
        let (gw, url) = self.ctx.client(self.ctx.superadmin_key());
        let path = format!("/v1/admin/audit/export?tenant={}", self.tenant);
        let response = gw
            .http()
            .get(format!("{url}{path}"))
            .bearer_auth(self.ctx.superadmin_key())
            .send()
            .await
            .map_err(|e| failed("GET /v1/admin/audit/export", e, None))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| failed("reading the export", e, None))?;
        match status {
            200 => Ok(Some(bytes.to_vec())),
            409 => Ok(None),
            _ => Err(failed("the export", format!("{status}: {}", String::from_utf8_lossy(&bytes)), None)),
        }
    }

    /// Checkpoints the head (through an export) and lets the witness save
    /// it; answers the size.
    async fn witness_now(&self) -> Result<u64, Failure> {
        let file = self.export().await?.ok_or_else(|| failed("the export before tampering", "409", None))?;
        let report = verify_audit_export(file.as_slice(), &self.keys)
            .map_err(|e| failed("the export before tampering does not verify", e, None))?;
        self.monitor().await.map_err(|e| failed("the witness before tampering", e, None))?;
        Ok(report.entries)
    }

    async fn monitor(&self) -> Result<(), MonitorError> {
        let monitor = Monitor::new(
            self.ctx.url(),
            self.ctx.superadmin_key(),
            Some(self.tenant.clone()),
            (self.keys.clone(), &lictor_server::tls::OutboundRoots::default()),
        )?;
        monitor.run(&self.witness.path().join("state.note")).await.map(|_| ())
    }

    /// The tenant's entries, in order.
    async fn entries(&self) -> Result<Vec<AuditEntry>, Failure> {
        let path = format!("/v1/admin/audit?tenant={}&limit=500", self.tenant);
        let (status, page, repro) =
            raw(self.ctx, "GET", &path, self.ctx.superadmin_key(), None::<&()>).await?;
        check(status == 200, || format!("listing the log: {status} {page}"), Some(repro))?;
        serde_json::from_value(page["items"].clone()).map_err(|e| failed("the listed entries", e, None))
    }

    /// Runs `sql` against the deployment's store.
    async fn tamper(&self, sql: String) -> Result<(), Failure> {
        self.ctx.disruptor()?.execute_sql(sql).await.map_err(|e| failed("the sql hook", e, None))
    }

    /// The API's verification must fail with one of `reasons`, no export
    /// may verify against the pinned key, and nothing may be signed over
    /// the log after it.
    async fn refused(&self, reasons: &[&str]) -> Result<(), Failure> {
        let path = format!("/v1/admin/audit/verify?tenant={}", self.tenant);
        let (status, verified, repro) =
            raw(self.ctx, "GET", &path, self.ctx.superadmin_key(), None::<&()>).await?;
        let reason = verified["first_failure"]["reason"].as_str().unwrap_or_default();
        check(
            status == 200 && verified["ok"] == false && reasons.contains(&reason),
            || {
                format!(
                    "the tampered log: want a failed verification ({reasons:?}), got {status}: {verified}"
                )
            },
            Some(repro),
        )?;
        if let Some(file) = self.export().await? {
            check(
                verify_audit_export(file.as_slice(), &self.keys).is_err(),
                || "an export of the tampered log verifies against the key pinned before".into(),
                None,
            )?;
        }
        // Decisions are still recorded; the log still does not verify.
        self.decide(1).await?;
        let (_, again, repro) = raw(self.ctx, "GET", &path, self.ctx.superadmin_key(), None::<&()>).await?;
        check(
            again["ok"] == false,
            || format!("after one more decision the log verifies: {again}"),
            Some(repro),
        )
    }

    /// The witness must find the log inconsistent with what it saw.
    async fn witness_refuses(&self) -> Result<(), Failure> {
        match self.monitor().await {
            Err(MonitorError::Inconsistent(_)) => Ok(()),
            Err(error) => Err(failed("the witness could not run", error, None)),
            Ok(seen) => {
                Err(failed("the witness finds the tampered log consistent", format!("{seen:?}"), None))
            }
        }
    }

    /// SQL that rewrites entry `seq` (its verdict flipped) and recomputes
    /// every later link and hash, and the head.
    fn rewrite(&self, entries: &[AuditEntry], seq: u64) -> Result<String, Failure> {
        let mut sql = String::new();
        let chain = rewritten(entries, seq);
        for (record, hash) in chain.iter().filter(|(record, _)| record.seq >= seq) {
            sql.push_str(&format!(
                "UPDATE audit_entries SET verdict = {}, prev_hash = {}, hash = {} WHERE tenant_id = {} AND seq = {};\n",
                record.verdict.map(|v| sql_text(v.as_str())).unwrap_or_else(|| "NULL".into()),
                sql_text(&record.prev_hash),
                sql_text(hash),
                sql_text(&self.tenant),
                record.seq,
            ));
        }
        let (_, head) = chain.last().ok_or_else(|| failed("rewriting", "an empty log", None))?;
        sql.push_str(&format!(
            "UPDATE audit_heads SET hash = {} WHERE tenant_id = {};\n",
            sql_text(head),
            sql_text(&self.tenant)
        ));
        Ok(sql)
    }

    /// SQL that deletes the entries after `seq` and moves the head back.
    fn truncate(&self, entries: &[AuditEntry], seq: u64) -> Result<String, Failure> {
        let kept = entries.iter().find(|e| e.seq == seq).ok_or_else(|| failed("truncating", seq, None))?;
        let tenant = sql_text(&self.tenant);
        Ok(format!(
            "DELETE FROM audit_entries WHERE tenant_id = {tenant} AND seq > {seq};\n\
             UPDATE audit_heads SET seq = {seq}, hash = {} WHERE tenant_id = {tenant};\n",
            sql_text(&kept.hash)
        ))
    }

    fn delete_checkpoints(&self) -> String {
        format!("DELETE FROM audit_checkpoints WHERE tenant_id = {};\n", sql_text(&self.tenant))
    }
}

/// The log with entry `seq`'s verdict flipped and every link and hash
/// from it on recomputed with the documented formula: each record and its
/// hash.
fn rewritten(entries: &[AuditEntry], seq: u64) -> Vec<(AuditRecord, String)> {
    use lictor_api::intents::Verdict;
    let mut prev: Option<String> = None;
    let mut chain = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut record = AuditRecord::from_entry(entry);
        if entry.seq == seq {
            record.verdict = Some(if record.verdict == Some(Verdict::Approve) {
                Verdict::Block
            } else {
                Verdict::Approve
            });
        }
        if let Some(prev) = prev.take() {
            record.prev_hash = prev;
        }
        let hash = record.hash();
        prev = Some(hash.clone());
        chain.push((record, hash));
    }
    chain
}

/// The first decision of the log (the entries before it are the tenant's
/// provisioning).
fn first_decision(entries: &[AuditEntry]) -> Result<u64, Failure> {
    entries
        .iter()
        .find(|e| e.verdict.is_some())
        .map(|e| e.seq)
        .ok_or_else(|| failed("the log", "has no decision", None))
}

fn rewrite_recomputed(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "rewrite").await?;
        target.decide(4).await?;
        target.witness_now().await?;
        let entries = target.entries().await?;
        target.tamper(target.rewrite(&entries, first_decision(&entries)?)?).await?;
        target.refused(&["checkpoint_mismatch"]).await
    })
}

fn rewrite_checkpoints_deleted(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "rewrite-nockp").await?;
        target.decide(4).await?;
        target.witness_now().await?;
        let entries = target.entries().await?;
        let sql = target.rewrite(&entries, first_decision(&entries)?)? + &target.delete_checkpoints();
        target.tamper(sql).await?;
        target.refused(&["unsealed_head"]).await?;
        target.witness_refuses().await
    })
}

fn append_forged(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "append").await?;
        target.decide(4).await?;
        target.witness_now().await?;
        let entries = target.entries().await?;
        let last = entries.last().ok_or_else(|| failed("the log", "is empty", None))?;
        let mut forged = AuditRecord::from_entry(last);
        forged.seq += 1;
        forged.entry_id = "aud_conformance_forged".parse().map_err(|e| failed("an entry id", e, None))?;
        forged.prev_hash = last.hash.clone();
        let hash = forged.hash();
        let tenant = sql_text(&target.tenant);
        let columns = "version, entry_id, tenant_id, seq, ts, kind, intent_id, agent_id, environment, enforced, \
                       verdict, stage, reasons, bundle_hash, input_digest, payload_digest, principal, jti, tool, \
                       approval_id, outcome, prev_hash, hash";
        let copied = "version, 'aud_conformance_forged', tenant_id, seq + 1, ts, kind, intent_id, agent_id, \
                      environment, enforced, verdict, stage, reasons, bundle_hash, input_digest, payload_digest, \
                      principal, jti, tool, approval_id, outcome";
        let sql = format!(
            "INSERT INTO audit_entries ({columns}) SELECT {copied}, {}, {} FROM audit_entries \
               WHERE tenant_id = {tenant} AND seq = {};\n\
             UPDATE audit_heads SET seq = {}, hash = {} WHERE tenant_id = {tenant};\n",
            sql_text(&last.hash),
            sql_text(&hash),
            last.seq,
            forged.seq,
            sql_text(&hash),
        );
        target.tamper(sql).await?;
        target.refused(&["unsealed_head"]).await
    })
}

fn truncate_tail(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "cut-tail").await?;
        target.decide(2).await?;
        let checkpointed = target.witness_now().await?;
        target.decide(3).await?;
        let entries = target.entries().await?;
        // If the deployment checkpointed the tail meanwhile, this is a cut
        // into a checkpoint: refused all the same.
        target.tamper(target.truncate(&entries, checkpointed)?).await?;
        target.refused(&["unsealed_head", "truncated"]).await
    })
}

fn truncate_checkpointed(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "cut-ckp").await?;
        target.decide(4).await?;
        let checkpointed = target.witness_now().await?;
        let entries = target.entries().await?;
        target.tamper(target.truncate(&entries, checkpointed - 2)?).await?;
        target.refused(&["truncated"]).await?;
        // With the checkpoints deleted too, the witness still has one.
        target.tamper(target.delete_checkpoints()).await?;
        target.witness_refuses().await
    })
}

fn foreign_key(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let target = Target::provision(ctx, "foreign").await?;
        target.decide(4).await?;
        target.witness_now().await?;
        let entries = target.entries().await?;
        let sql = target.rewrite(&entries, first_decision(&entries)?)?;
        // The forged log's checkpoint, signed by a key of the same name
        // that the gateway never held.
        let mut forged = lictor_offline::audit::merkle::Frontier::new();
        for (_, hash) in rewritten(&entries, first_decision(&entries)?) {
            forged.push(&hex::decode(&hash).map_err(|e| failed("a hash", e, None))?);
        }
        let name = target.keys.first().map(|k| k.name.clone()).unwrap_or_default();
        let origin = {
            let latest_path = format!("/v1/admin/audit/checkpoints/latest?tenant={}", target.tenant);
            let (_, latest, _) = raw(ctx, "GET", &latest_path, ctx.superadmin_key(), None::<&()>).await?;
            latest["origin"].as_str().unwrap_or_default().to_string()
        };
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let signer = NoteSigner::new(&name, &seed).map_err(|e| failed("a foreign key", e, None))?;
        let checkpoint =
            Checkpoint { origin, tree_size: forged.size(), root_hash: forged.root(), time: None };
        let note = signer.sign(&checkpoint.to_text()).map_err(|e| failed("signing", e, None))?;
        let sql = sql
            + &target.delete_checkpoints()
            + &format!(
                "INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, created_at, key_id, note) \
                 VALUES ({}, {}, {}, 0, {}, {});\n",
                sql_text(&target.tenant),
                forged.size(),
                sql_text(&hex::encode(forged.root())),
                sql_text(&hex::encode(signer.verifier().id)),
                sql_text(&note),
            );
        target.tamper(sql).await?;
        target.refused(&["bad_checkpoint"]).await?;
        target.witness_refuses().await
    })
}
