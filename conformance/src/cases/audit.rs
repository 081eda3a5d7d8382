//! The audit log: the chain verifies, an export verifies offline with the
//! published keys, and an entry is included in a signed checkpoint.

use std::time::Duration;

use lictor_client::{types, verify_audit_export};
use lictor_offline::audit::merkle;

use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "audit.chain_verifies",
            group: Group::Audit,
            title: "the run's tenant's log verifies against its latest checkpoint and is listed without a gap",
            disruptive: false,
            operations: &["audit_verify"],
            run: chain_verifies,
        },
        Case {
            id: "audit.export_verifies_offline",
            group: Group::Audit,
            title: "an NDJSON and a CSV export verify offline with the published keys",
            disruptive: false,
            operations: &["audit_export", "public_keys"],
            run: export_verifies_offline,
        },
        Case {
            id: "audit.inclusion_in_a_signed_checkpoint",
            group: Group::Audit,
            title: "an audited decision has an inclusion proof to a signed checkpoint",
            disruptive: false,
            operations: &["audit_inclusion_proof", "public_keys"],
            run: inclusion_in_a_signed_checkpoint,
        },
        Case {
            id: "audit.checkpoints_are_consistent",
            group: Group::Audit,
            title: "two signed checkpoints of the log are consistent by a proof verified offline",
            disruptive: false,
            operations: &["audit_checkpoint_list", "audit_consistency_proof"],
            run: checkpoints_are_consistent,
        },
        Case {
            id: "audit.payload_erasure_keeps_the_chain",
            group: Group::Audit,
            title: "a payload is read by digest and erased with a reason; the erasure is audited and the chain still verifies",
            disruptive: false,
            operations: &["audit_payload_get", "audit_payload_erase"],
            run: payload_erasure_keeps_the_chain,
        },
    ]
}

fn chain_verifies(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let repro = curl("GET", &url, "/v1/admin/audit/verify", &ctx.admin_key, None::<&()>);
        let verified = admin
            .retrying(|| admin.api().audit_verify().send())
            .await
            .map_err(|e| failed("GET /v1/admin/audit/verify", e, Some(repro.clone())))?;
        check(
            verified.ok && verified.verified > 0 && verified.first_failure.is_none(),
            || {
                format!(
                    "want ok with entries, got ok={} verified={} {:?}",
                    verified.ok, verified.verified, verified.first_failure
                )
            },
            Some(repro),
        )?;
        // The log as listed holds every entry the verification counted, in
        // seq order without a gap.
        let repro = curl("GET", &url, "/v1/admin/audit", &ctx.admin_key, None::<&()>);
        let mut seqs = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100_000 {
            let page = admin
                .retrying(|| {
                    let mut call = admin.api().audit_list().limit(500);
                    if let Some(cursor) = &cursor {
                        call = call.cursor(cursor.as_str());
                    }
                    call.send()
                })
                .await
                .map_err(|e| failed("GET /v1/admin/audit", e, Some(repro.clone())))?;
            seqs.extend(page.items.iter().map(|e| e.seq));
            cursor = page.next_cursor.clone();
            if cursor.is_none() {
                break;
            }
        }
        let gap = seqs.iter().enumerate().find(|(i, seq)| **seq != *i as u64 + 1);
        check(
            gap.is_none() && seqs.len() as u64 >= verified.verified,
            || match gap {
                Some((i, seq)) => format!("the listed log skips from entry {i} to entry {seq}"),
                None => format!(
                    "the listed log has {} entries, the verification counted {}",
                    seqs.len(),
                    verified.verified
                ),
            },
            Some(repro),
        )
    })
}

fn export_verifies_offline(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
        for format in [types::ExportFormatName::Ndjson, types::ExportFormatName::Csv] {
            let repro = curl(
                "GET",
                &url,
                &format!("/v1/admin/audit/export?format={format}"),
                &ctx.admin_key,
                None::<&()>,
            );
            let file = admin
                .audit_export(format, None)
                .await
                .map_err(|e| failed("exporting", e, Some(repro.clone())))?;
            let report = verify_audit_export(file.as_slice(), &keys).map_err(|e| {
                failed(&format!("the {format} export does not verify"), format!("{e:?}"), Some(repro.clone()))
            })?;
            check(report.entries > 0, || format!("the {format} export is empty"), Some(repro))?;
        }
        Ok(())
    })
}

fn inclusion_in_a_signed_checkpoint(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
        let repro = curl("GET", &url, "/v1/admin/audit/proof/inclusion?seq=1", &ctx.admin_key, None::<&()>);
        // Checkpoints are signed on a timer: wait for one to cover entry 1.
        let mut last = None;
        for _ in 0..60 {
            match admin.retrying(|| admin.api().audit_inclusion_proof().seq(1).send()).await {
                Ok(proof) => {
                    last = Some(proof);
                    break;
                }
                Err(error) => {
                    if error.api().map(|a| a.status) != Some(409)
                        && error.api().map(|a| a.status) != Some(404)
                    {
                        return Err(failed("GET the inclusion proof", error, Some(repro)));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let proof =
            last.ok_or_else(|| failed("no checkpoint covered entry 1 within 30 s", "", Some(repro.clone())))?;
        let checkpoint = proof
            .checkpoint
            .as_ref()
            .ok_or_else(|| failed("the proof names no checkpoint", "", Some(repro.clone())))?;
        let opened = keys
            .iter()
            .find_map(|key| lictor_offline::audit::checkpoint::Checkpoint::open(&checkpoint.note, key).ok())
            .ok_or_else(|| {
                failed("the checkpoint is not signed by a published key", "", Some(repro.clone()))
            })?;
        let hash = |text: &str| -> Result<merkle::Hash, crate::Failure> {
            let bytes = hex::decode(text).map_err(|e| failed("a proof hash is not hex", e, None))?;
            bytes.try_into().map_err(|_| failed("a proof hash is not 32 bytes", text, None))
        };
        let path = proof.proof.iter().map(|h| hash(h)).collect::<Result<Vec<_>, _>>()?;
        let leaf = merkle::leaf_hash(&hash(&proof.entry_hash)?);
        merkle::verify_inclusion(&leaf, proof.leaf_index, opened.tree_size, &path, &opened.root_hash).map_err(
            |e| {
                failed(
                    "the inclusion proof does not verify against the signed root",
                    format!("{e:?}"),
                    Some(repro),
                )
            },
        )
    })
}

fn hash32(text: &str) -> Result<merkle::Hash, crate::Failure> {
    let bytes = hex::decode(text).map_err(|e| failed("a hash is not hex", e, None))?;
    bytes.try_into().map_err(|_| failed("a hash is not 32 bytes", text, None))
}

/// Every checkpoint of the run's tenant, oldest first.
async fn checkpoints(admin: &lictor_client::Gateway) -> Result<Vec<types::AuditCheckpoint>, crate::Failure> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = admin
            .retrying(|| {
                let mut call = admin.api().audit_checkpoint_list().limit(100);
                if let Some(cursor) = &cursor {
                    call = call.cursor(cursor.as_str());
                }
                call.send()
            })
            .await
            .map_err(|e| failed("GET /v1/admin/audit/checkpoints", e, None))?;
        all.extend(page.items.iter().cloned());
        cursor = page.next_cursor.clone();
        if cursor.is_none() {
            break;
        }
    }
    all.sort_by_key(|c| c.tree_size);
    Ok(all)
}

fn checkpoints_are_consistent(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/lictor/keys", e, None))?;
        let list_repro = curl("GET", &url, "/v1/admin/audit/checkpoints", &ctx.admin_key, None::<&()>);
        // Two checkpoints of different sizes: decide until a newer one is signed.
        let mut listed = checkpoints(&admin).await?;
        for _ in 0..90 {
            if listed.first().zip(listed.last()).is_some_and(|(a, b)| a.tree_size < b.tree_size) {
                break;
            }
            super::intents::declare(
                ctx,
                &ctx.live_key,
                super::intents::intent(&ctx.agent, serde_json::json!({"type": "access", "verb": "read"}))?,
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            listed = checkpoints(&admin).await?;
        }
        let (Some(old), Some(new)) = (listed.first(), listed.last()) else {
            return Err(failed("no checkpoints listed", "", Some(list_repro)));
        };
        if old.tree_size >= new.tree_size {
            return Err(failed(
                "no second, larger checkpoint within 45 s",
                format!("sizes {}", old.tree_size),
                Some(list_repro),
            ));
        }
        let open = |c: &types::AuditCheckpoint| {
            keys.iter()
                .find_map(|key| lictor_offline::audit::checkpoint::Checkpoint::open(&c.note, key).ok())
                .ok_or_else(|| {
                    failed(
                        &format!("checkpoint {} is not signed by a published key", c.tree_size),
                        "",
                        Some(list_repro.clone()),
                    )
                })
        };
        let (a, b) = (open(old)?, open(new)?);
        check(
            a.tree_size == old.tree_size
                && b.tree_size == new.tree_size
                && hex::encode(b.root_hash) == new.root_hash,
            || "a checkpoint's fields disagree with its signed note".into(),
            Some(list_repro.clone()),
        )?;
        let path = format!("/v1/admin/audit/proof/consistency?from={}&to={}", a.tree_size, b.tree_size);
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let proof = admin
            .retrying(|| admin.api().audit_consistency_proof().from(a.tree_size).to(b.tree_size).send())
            .await
            .map_err(|e| failed("GET the consistency proof", e, Some(repro.clone())))?;
        let path_hashes = proof.proof.iter().map(|h| hash32(h)).collect::<Result<Vec<_>, _>>()?;
        check(
            hash32(&proof.from_root)? == a.root_hash && hash32(&proof.to_root)? == b.root_hash,
            || "the proof's roots are not the signed checkpoints' roots".into(),
            Some(repro.clone()),
        )?;
        merkle::verify_consistency(a.tree_size, b.tree_size, &a.root_hash, &b.root_hash, &path_hashes)
            .map_err(|e| {
                failed(
                    "the consistency proof does not verify between the signed roots",
                    format!("{e:?}"),
                    Some(repro),
                )
            })
    })
}

fn payload_erasure_keeps_the_chain(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mark = format!("conformance-payload-{}", uuid::Uuid::new_v4().simple());
        let note = super::intents::intent(
            &ctx.agent,
            serde_json::json!({"type": "communicate", "verb": "send", "payload": {"content": mark}}),
        )?;
        let (decision, _) = super::intents::declare(ctx, &ctx.live_key, note).await?;
        let (admin, url) = ctx.client(&ctx.admin_key);
        let intent_id = decision.intent_id.to_string();
        let repro =
            curl("GET", &url, &format!("/v1/admin/audit?intent_id={intent_id}"), &ctx.admin_key, None::<&()>);
        let entries = admin
            .retrying(|| admin.api().audit_list().intent_id(intent_id.as_str()).send())
            .await
            .map_err(|e| failed("listing the intent's entries", e, Some(repro.clone())))?;
        let digest = entries
            .items
            .iter()
            .find_map(|e| e.payload_digest.clone())
            .ok_or_else(|| failed("the decision's entry has no payload_digest", "", Some(repro)))?;
        let path = format!("/v1/admin/audit/payloads/{digest}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let payload = admin
            .retrying(|| admin.api().audit_payload_get().digest(digest.as_str()).send())
            .await
            .map_err(|e| failed("reading the payload", e, Some(repro.clone())))?;
        check(
            payload.body.as_ref().is_some_and(|b| b.to_string().contains(&mark)),
            || format!("the payload body lacks the intent's content: {:?}", payload.body),
            Some(repro.clone()),
        )?;
        let erase = curl("DELETE", &url, &format!("{path}?reason=conformance"), &ctx.admin_key, None::<&()>);
        admin
            .retrying(|| {
                admin.api().audit_payload_erase().digest(digest.as_str()).reason("conformance").send()
            })
            .await
            .map_err(|e| failed("erasing the payload", e, Some(erase.clone())))?;
        let erased = admin
            .retrying(|| admin.api().audit_payload_get().digest(digest.as_str()).send())
            .await
            .map_err(|e| failed("reading the erased payload", e, Some(repro.clone())))?;
        check(
            erased.body.is_none() && erased.erased_at.is_some() && erased.erased_by.is_some(),
            || format!("an erased payload must have no body and say when and by whom: {erased:?}"),
            Some(repro),
        )?;
        let repro = curl("GET", &url, "/v1/admin/audit?kind=payload_erased", &ctx.admin_key, None::<&()>);
        let audited = admin
            .retrying(|| admin.api().audit_list().kind(types::AuditKind::PayloadErased).limit(100).send())
            .await
            .map_err(|e| failed("listing erasures", e, Some(repro.clone())))?;
        check(!audited.items.is_empty(), || "the erasure is not an audit entry".into(), Some(repro))?;
        let repro = curl("GET", &url, "/v1/admin/audit/verify", &ctx.admin_key, None::<&()>);
        let verified = admin
            .retrying(|| admin.api().audit_verify().send())
            .await
            .map_err(|e| failed("verifying after the erasure", e, Some(repro.clone())))?;
        check(
            verified.ok,
            || format!("the chain no longer verifies after an erasure: {:?}", verified.first_failure),
            Some(repro),
        )
    })
}
