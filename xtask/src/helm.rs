//! `cargo xtask helm`: lints the chart in `deploy/helm/lictor` and checks
//! what it renders.
//!
//! Helm is the Go module `helm.sh/helm/v4` at [`VERSION`]: `$LICTOR_HELM`
//! when set, else `target/tools/helm` once installed there with
//! `go install`. The chart is linted (`--strict`) with its defaults and
//! with `ci/postgres-values.yaml` (TLS, a ServiceMonitor, extra
//! environment); both renderings are read back as YAML and checked: the
//! replicas, the probes, the security context, the secrets the database
//! URL and the keys come from, the PodDisruptionBudget, the NetworkPolicy,
//! the ConfigMap's variables (each one `lictor serve` reads); and the
//! settings the chart refuses are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// The Helm release the chart is checked with.
pub const VERSION: &str = "v4.3.2";

const CHART: &str = "deploy/helm/lictor";

/// The `helm` binary: `$LICTOR_HELM`, or installed into `target/tools`.
fn helm_binary(root: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("LICTOR_HELM") {
        return Ok(PathBuf::from(path));
    }
    let tools = root.join("target").join("tools");
    let binary = tools.join("helm");
    let stamp = tools.join("helm.version");
    let installed = binary.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|v| v.trim() == VERSION);
    if !installed {
        let package = format!("helm.sh/helm/v4/cmd/helm@{VERSION}");
        crate::go_install(root, &package, "Helm is installed as a Go module; or set LICTOR_HELM")?;
        std::fs::write(&stamp, VERSION)?;
    }
    Ok(binary)
}

/// `helm template` with `args`: every document as JSON, or helm's error.
fn render(helm: &Path, root: &Path, args: &[&str]) -> Result<Result<Vec<Value>, String>> {
    let output = Command::new(helm)
        .args(["template", "gw", CHART, "--namespace", "agents"])
        .args(args)
        .current_dir(root)
        .output()
        .context("starting helm")?;
    if !output.status.success() {
        return Ok(Err(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let text = String::from_utf8(output.stdout)?;
    let mut documents = Vec::new();
    for document in yaml_serde::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document).context("a rendered manifest")?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(Ok(documents))
}

fn kind<'a>(documents: &'a [Value], kind: &str) -> Result<&'a Value> {
    let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
    ensure!(found.len() == 1, "expected one {kind}, rendered {}", found.len());
    Ok(found[0])
}

/// The environment variable `name` of `container`.
fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)
}

/// Every variable `lictor serve --help` names (`[env: NAME=…]`) and the
/// ones listed under its Environment section.
fn serve_variables(root: &Path) -> Result<Vec<String>> {
    crate::run(root, "cargo", &["build", "-p", "lictor-server", "--bin", "lictor"])?;
    let output = Command::new(root.join("target/debug/lictor")).args(["serve", "--help"]).output()?;
    let help = String::from_utf8(output.stdout)?;
    let mut names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_string)
        .collect();
    names.extend(["LICTOR_ADMIN_KEY", "LICTOR_KEYS", "DATABASE_URL"].map(String::from));
    Ok(names)
}

fn check(documents: &[Value], tls: bool, variables: &[String]) -> Result<()> {
    let deployment = kind(documents, "Deployment")?;
    let spec = &deployment["spec"];
    ensure!(spec["replicas"].as_u64().is_some_and(|n| n >= 2), "replicas: {}", spec["replicas"]);
    ensure!(spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "a rolling update may drop capacity");
    let pod = &spec["template"]["spec"];
    let labels = &spec["template"]["metadata"]["labels"];
    ensure!(pod["securityContext"]["runAsNonRoot"] == true, "pods may run as root");
    ensure!(
        pod["securityContext"]["runAsUser"] == 65532,
        "pods run as {}",
        pod["securityContext"]["runAsUser"]
    );
    ensure!(pod["automountServiceAccountToken"] == false, "the service account token is mounted");
    let containers = pod["containers"].as_array().context("containers")?;
    ensure!(containers.len() == 1, "one container expected");
    let container = &containers[0];
    let security = &container["securityContext"];
    ensure!(security["readOnlyRootFilesystem"] == true, "the root filesystem is writable");
    ensure!(security["allowPrivilegeEscalation"] == false, "privilege escalation is allowed");
    ensure!(security["capabilities"]["drop"] == serde_json::json!(["ALL"]), "capabilities are kept");
    ensure!(container["resources"]["requests"]["cpu"].is_string(), "no CPU request");
    ensure!(container["resources"]["requests"]["memory"].is_string(), "no memory request");
    for (probe, path) in
        [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/readyz")]
    {
        let get = &container[probe]["httpGet"];
        ensure!(get["path"] == path && get["port"] == "metrics", "{probe}: {get}");
    }
    // The secrets: never values in the manifest.
    for (name, secret) in [
        ("DATABASE_URL", "lictor-database"),
        ("LICTOR_ADMIN_KEY", "lictor-admin"),
        ("LICTOR_KEYS", "lictor-keys"),
    ] {
        let entry = env(container, name).with_context(|| format!("no {name}"))?;
        ensure!(entry.get("value").is_none(), "{name} is written into the manifest");
        ensure!(entry["valueFrom"]["secretKeyRef"]["name"] == secret, "{name}: {entry}");
    }
    let mounts = container["volumeMounts"].as_array().context("volume mounts")?;
    ensure!(mounts.iter().any(|m| m["mountPath"] == "/tmp"), "no writable /tmp");
    let config = kind(documents, "ConfigMap")?;
    let data = config["data"].as_object().context("config data")?;
    for name in data.keys() {
        ensure!(variables.contains(name), "the ConfigMap sets {name}, which `lictor serve` does not read");
    }
    let metrics_port = container["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|p| p["name"] == "metrics"))
        .and_then(|p| p["containerPort"].as_u64())
        .context("a metrics port")?;
    ensure!(
        data["LICTOR_METRICS_LISTEN"] == format!("0.0.0.0:{metrics_port}"),
        "the metrics listener is not on the metrics port"
    );
    let seconds =
        |name: &str| data.get(name).and_then(Value::as_str).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    ensure!(
        grace > seconds("LICTOR_DRAIN_DELAY_SECONDS") + seconds("LICTOR_SHUTDOWN_TIMEOUT_SECONDS"),
        "terminationGracePeriodSeconds {grace} does not cover the drain and the shutdown timeout"
    );
    let pdb = kind(documents, "PodDisruptionBudget")?;
    ensure!(pdb["spec"]["minAvailable"] == 1, "PDB: {}", pdb["spec"]);
    let service = kind(documents, "Service")?;
    for selector in [&pdb["spec"]["selector"]["matchLabels"], &service["spec"]["selector"]] {
        for (key, value) in selector.as_object().context("a selector")? {
            ensure!(labels[key] == *value, "a selector does not match the pods: {selector}");
        }
    }
    let policy = kind(documents, "NetworkPolicy")?;
    let rules = policy["spec"]["ingress"].as_array().context("ingress rules")?;
    let metrics_rule =
        rules.iter().find(|r| r["ports"][0]["port"] == "metrics").context("no ingress rule for metrics")?;
    ensure!(
        metrics_rule["from"].as_array().is_some_and(|f| !f.is_empty()),
        "the metrics port is open to all"
    );
    if tls {
        ensure!(env(container, "LICTOR_TLS_CERT").is_some(), "TLS is enabled but not configured");
        ensure!(env(container, "LICTOR_TLS_CLIENT_CA").is_some(), "the client CA is not configured");
        let volumes = pod["volumes"].as_array().context("volumes")?;
        ensure!(volumes.iter().any(|v| v["secret"]["secretName"] == "lictor-tls"), "no TLS secret volume");
        let monitor = kind(documents, "ServiceMonitor")?;
        ensure!(monitor["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor: {}", monitor["spec"]);
        ensure!(env(container, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some(), "extraEnv was not applied");
    } else {
        ensure!(!documents.iter().any(|d| d["kind"] == "ServiceMonitor"), "a ServiceMonitor by default");
    }
    Ok(())
}

pub fn helm(root: &Path) -> Result<()> {
    let helm = helm_binary(root)?;
    let helm_path = helm.to_str().context("a UTF-8 path")?;
    crate::run(root, helm_path, &["lint", "--strict", CHART])?;
    crate::run(
        root,
        helm_path,
        &["lint", "--strict", CHART, "-f", "deploy/helm/lictor/ci/postgres-values.yaml"],
    )?;
    let variables = serve_variables(root)?;
    let defaults = render(&helm, root, &[])?.map_err(anyhow::Error::msg)?;
    check(&defaults, false, &variables).context("the default rendering")?;
    let ci = render(&helm, root, &["-f", "deploy/helm/lictor/ci/postgres-values.yaml"])?
        .map_err(anyhow::Error::msg)?;
    check(&ci, true, &variables).context("the TLS rendering")?;
    // Integrations come from a Secret's keys when one is named, and only then.
    let env_from = |documents: &[Value]| -> Result<Value> {
        Ok(kind(documents, "Deployment")?["spec"]["template"]["spec"]["containers"][0]["envFrom"].clone())
    };
    ensure!(
        env_from(&ci)?
            .as_array()
            .is_some_and(|all| all.iter().any(|e| e["secretRef"]["name"] == "lictor-integrations")),
        "the integrations' Secret is not in the pods' envFrom"
    );
    ensure!(
        env_from(&defaults)?.as_array().is_some_and(|all| all.iter().all(|e| e.get("secretRef").is_none())),
        "a Secret is in envFrom without integrations.secretName"
    );
    let refused = [
        (&["--set", "replicaCount=1"][..], "replicaCount must be at least 2"),
        (&["--set", "database.secret.name="][..], "database.secret.name is required"),
        (&["--set", "signingKeys.secret.name="][..], "signingKeys.secret.name is required"),
        (&["--set", "tls.enabled=true"][..], "tls.secretName is required"),
        (&["--set", "networkPolicy.metricsFrom=null"][..], "networkPolicy.metricsFrom must name the scraper"),
    ];
    for (args, message) in refused {
        match render(&helm, root, args)? {
            Ok(_) => bail!("`helm template {}` rendered; it must refuse", args.join(" ")),
            Err(error) => ensure!(error.contains(message), "`helm template {}`: {error}", args.join(" ")),
        }
    }
    println!("the chart lints, renders what it should and refuses what it must");
    Ok(())
}
