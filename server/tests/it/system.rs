use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::process::{Deployment, call, client, send};
use crate::support::{ADMIN_KEY, Backend, TestGateway, eventually};

async fn health_and_readiness_answer(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let health = gw.call(reqwest::Method::GET, "/healthz", None, None).await.expect(200);
    assert_eq!(health["status"], "ok");
    let ready = gw.call(reqwest::Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["audit_logs_refused"], 0);
    let store = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["store"], store);
}

/// `lictor serve` turns transparent huge pages off for itself
/// (docs/operations.md, Memory): the kernel reports it in the process's
/// status.
async fn the_served_process_runs_without_huge_pages(backend: Backend) {
    let mut deployment = Deployment::new(backend).await;
    deployment.start().await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", deployment.pid())).unwrap();
    let thp = status.lines().find_map(|l| l.strip_prefix("THP_enabled:")).map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
}

async fn unknown_routes_are_404(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let answer = gw.call(reqwest::Method::GET, "/v1/nope", None, None).await;
    assert_eq!(answer.status.as_u16(), 404);
    assert!(answer.body["request_id"].is_string());
}

async fn restart_keeps_data_and_keys(backend: Backend) {
    let mut gw = TestGateway::start(backend).await;
    let tenant = gw.create_tenant("restart").await;
    gw.stop().await;
    // A second gateway on the same store sees the tenant and its keys.
    let second = gw.replica(backend, |_| {}).await;
    let got = second.get(&format!("/v1/admin/tenants/{tenant}"), crate::support::ADMIN_KEY).await.expect(200);
    assert_eq!(got["id"], tenant);
    let db = second.db().await;
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_ids").fetch_one(&db).await.unwrap();
    assert_eq!(keys, 2, "signing keys are created once and their ids persisted");
}

/// Whatever a request carries — a newline in a path or a body, a NUL —
/// stays on its own log line, escaped.
async fn no_input_forges_a_log_line(backend: Backend) {
    for format in ["text", "json"] {
        let mut deployment = Deployment::new(backend).await;
        // dropshot's own request lines, which carry the path and the error, are `debug`.
        let url =
            deployment.start_with(&["--log-level", "info,dropshot=debug", "--log-format", format]).await;
        let client = client();
        let path = format!("{url}/v1/agents/x%0AFORGED%20line%00?tenant=t");
        send(call(&client, Method::GET, path, ADMIN_KEY)).await.expect(400);
        let body = json!({"id": "a\nFORGED line\r\n", "name": "x"});
        send(call(&client, Method::POST, format!("{url}/v1/admin/tenants"), ADMIN_KEY).json(&body))
            .await
            .expect(400);
        let log = eventually(Duration::from_secs(5), async || {
            let log = deployment.log();
            let completed =
                log.lines().filter(|l| l.contains("request completed") && l.contains("FORGED")).count();
            (completed >= 2 && log.ends_with('\n')).then_some(log)
        })
        .await
        .unwrap_or_else(|| panic!("the requests were not logged: {}", deployment.log()));
        assert!(log.lines().all(|line| !line.starts_with("FORGED")), "{log}");
        assert!(!log.contains('\0'), "{log}");
        match format {
            "text" => {
                assert!(log.contains(r"x\nFORGED line\u{0}"), "{log}");
                assert!(log.contains(r"a\nFORGED line\r\n"), "{log}");
            }
            _ => {
                // Every line is one JSON object; the values are escaped
                // before the encoder escapes them again.
                for line in log.lines() {
                    let _: serde_json::Value =
                        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
                }
                assert!(log.contains(r"x\\nFORGED line\\u{0}"), "{log}");
            }
        }
    }
}

/// Where an allocation beyond the machine fails instead of being
/// overcommitted (an address-space limit here; strict overcommit or a
/// container's limit elsewhere), a policy asking a builtin for terabytes
/// in one step used to abort the gateway. It is cut off for its own
/// request.
async fn a_greedy_policy_does_not_abort_a_bounded_gateway(backend: Backend) {
    let mut deployment = Deployment::new(backend).await;
    deployment.limit_address_space(8 * 1024 * 1024);
    let url = deployment.start().await;
    let client = client();
    let tenant = crate::support::process::provision(&client, &url).await;
    // A 200 kB string, and builtins that would make it terabytes in one call.
    let text = "s := concat(\"\", [c | some i in numbers.range(1, 200000); c := \"a\"])\n";
    let greedy = [
        "n := count(numbers.range(1, 1000000000000))",
        "n := count(replace(s, \"\", s))",
        "n := count(strings.replace_n({\"\": s}, s))",
        "n := count(concat(s, [x | some i in numbers.range(1, 100000); x := \"b\"]))",
        "n := count(regex.replace(s, \"a\", s))",
        "n := count(json.marshal_with_options([i | some i in numbers.range(1, 10000)], {\"indent\": s}))",
    ];
    for rule in greedy {
        let module = format!(
            "package lictor\nimport rego.v1\n{text}{rule}\ndecision := {{\"verdict\": \"approve\"}} if n > 0\n"
        );
        let body = json!({"modules": {"p.rego": module}, "inputs": [{}]});
        let cut = send(
            call(&client, Method::POST, format!("{url}/v1/admin/policies/dry-run"), &tenant.admin)
                .json(&body),
        )
        .await
        .expect(200);
        assert_eq!(cut["inputs"][0]["error"]["code"], "policy_limit_exceeded", "{rule}: {cut}");
        assert!(deployment.is_running(), "the gateway lives on");
    }
    send(call(&client, Method::GET, format!("{url}/healthz"), &tenant.admin)).await.expect(200);
}

crate::on_both_backends!(
    a_greedy_policy_does_not_abort_a_bounded_gateway,
    no_input_forges_a_log_line,
    health_and_readiness_answer,
    unknown_routes_are_404,
    restart_keeps_data_and_keys,
    the_served_process_runs_without_huge_pages
);
