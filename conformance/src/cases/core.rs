//! Liveness, readiness and replicas agreeing.

use crate::{Case, CaseFuture, Context, Group, check, curl, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "core.health_and_readiness",
            group: Group::Core,
            title: "every replica answers /healthz and /readyz",
            disruptive: false,
            operations: &["health_check", "ready_check"],
            run: health_and_readiness,
        },
        Case {
            id: "core.replicas_share_one_tenant",
            group: Group::Core,
            title: "every replica sees the run's tenant with the same active policy",
            disruptive: false,
            operations: &["tenant_get"],
            run: replicas_share_one_tenant,
        },
    ]
}

fn health_and_readiness(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        for url in ctx.urls() {
            let gw = lictor_client::Gateway::new(url);
            let repro = Some(format!("curl -sS '{url}/readyz'"));
            gw.retrying(|| gw.api().health_check().send())
                .await
                .map_err(|e| failed("GET /healthz", e, repro.clone()))?;
            let ready = gw
                .retrying(|| gw.api().ready_check().send())
                .await
                .map_err(|e| failed("GET /readyz", e, repro.clone()))?;
            check(ready.status == "ready", || format!("{url} is not ready: {}", ready.status), repro)?;
        }
        Ok(())
    })
}

fn replicas_share_one_tenant(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut hashes = Vec::new();
        for url in ctx.urls() {
            let gw = lictor_client::Gateway::new(url).api_key(&ctx.admin_key);
            let path = format!("/v1/admin/tenants/{}", ctx.tenant);
            let repro = Some(curl("GET", url, &path, &ctx.admin_key, None::<&()>));
            let tenant = gw
                .retrying(|| gw.api().tenant_get().tenant_id(ctx.tenant.as_str()).send())
                .await
                .map_err(|e| failed("GET the run's tenant", e, repro))?;
            hashes.push(tenant.active_policy.bundle_hash);
        }
        check(hashes.windows(2).all(|w| w[0] == w[1]), || format!("replicas disagree: {hashes:?}"), None)
    })
}
