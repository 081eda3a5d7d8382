//! The audit log: the chain verifies, an export verifies offline with the
//! published keys, and an entry is included in a signed checkpoint.

use std::time::Duration;

use tollgate_client::{types, verify_audit_export};
use tollgate_offline::audit::merkle;

use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "audit.chain_verifies",
            group: Group::Audit,
            title: "the run's tenant's log verifies against its latest checkpoint",
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
        )
    })
}

fn export_verifies_offline(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/tollgate/keys", e, None))?;
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
        let keys = admin.audit_keys().await.map_err(|e| failed("GET /.well-known/tollgate/keys", e, None))?;
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
            .find_map(|key| tollgate_offline::audit::checkpoint::Checkpoint::open(&checkpoint.note, key).ok())
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
