//! `/api/reports/…`: governance reports over a time range, as typed JSON or
//! CSV (RFC 4180, written by the `csv` crate).
//!
//! Every figure is computed by the database (counts, groups); a report
//! holds its answer, never the tables behind it. The activity report's CSV
//! streams its groups as the database yields them; the other reports are
//! small by nature (posture), or bounded ([`MAX_ROWS`]) and say so.

use std::collections::{BTreeMap, HashMap};
use std::io;

use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use futures::StreamExt;
use lictor_api::ApiError;
use lictor_api::discovery::{DiscoveredIdentity, ServiceRef};
use lictor_api::ids::{AgentId, DiscoveredAgentId, TenantId};
use lictor_api::reports::{
    AccessReport, AccessRow, ActivityParams, ActivityReport, ActivityRow, AttestationReport, Bucket,
    CredentialKind, EvidenceKind, EvidenceRow, PostureDay, PostureReport, ReportFormat, ReportParams,
    ReportRange, ServiceInUse, StatusCounts,
};
use serde::Serialize;

use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::bucket_micros;

/// The most rows a report holds (JSON), and that a CSV of a report other
/// than activity holds.
pub(crate) const MAX_ROWS: usize = 50_000;
/// The longest range, in days.
const MAX_DAYS: i64 = 366;

/// A report, as asked for.
pub(crate) enum Answer<T> {
    /// Typed JSON.
    Json(T),
    /// CSV: the file name to offer, and its bytes as they are written.
    Csv {
        /// `lictor-<report>-<tenant>-<from>-<to>.csv`.
        filename: String,
        /// The chunks, in order (an `Err` ends a broken report).
        chunks: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    },
}

/// The range a request names: `[from, to)`, by default the 30 days to now.
fn range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - ChronoDuration::days(30));
    if from >= to {
        return Err(Error::InvalidParameter {
            parameter: "from".into(),
            message: "`from` must be before `to`".into(),
        });
    }
    if to - from > ChronoDuration::days(MAX_DAYS) {
        return Err(Error::InvalidParameter {
            parameter: "to".into(),
            message: format!("a report covers at most {MAX_DAYS} days"),
        });
    }
    Ok((from, to))
}

/// CSV when `format=csv`, or without `format` when `Accept` prefers
/// `text/csv` to JSON.
fn wants_csv(caller: &Caller<'_>, format: Option<ReportFormat>) -> bool {
    match format {
        Some(format) => format == ReportFormat::Csv,
        None => caller
            .headers()
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|m| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .find(|m| m == "text/csv" || m == "application/json")
            .is_some_and(|m| m == "text/csv"),
    }
}

fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(time)
}

fn report_range(tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> ReportRange {
    ReportRange { tenant: tenant.clone(), from, to, generated_at: Utc::now() }
}

fn filename(report: &str, range: &ReportRange) -> String {
    format!(
        "lictor-{report}-{}-{}-{}.csv",
        range.tenant,
        range.from.format("%Y%m%dT%H%M%SZ"),
        range.to.format("%Y%m%dT%H%M%SZ")
    )
}

/// Writes CSV records to a channel, a chunk at a time.
struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
}

impl CsvOut {
    fn new(sender: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>) -> CsvOut {
        CsvOut { writer: csv::WriterBuilder::new().from_writer(Vec::new()), sender }
    }

    /// Writes a record; sends what is written once it is 64 KiB or more.
    /// `false` once the client is gone.
    async fn record<I, F>(&mut self, fields: I) -> bool
    where
        I: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        if let Err(error) = self.writer.write_record(fields) {
            let _ = self.sender.send(Err(io::Error::other(error))).await;
            return false;
        }
        if self.writer.get_ref().len() >= 64 * 1024 {
            return self.flush().await;
        }
        true
    }

    async fn flush(&mut self) -> bool {
        let writer = std::mem::replace(&mut self.writer, csv::WriterBuilder::new().from_writer(Vec::new()));
        let chunk = match writer.into_inner() {
            Ok(chunk) => chunk,
            Err(error) => {
                let _ = self.sender.send(Err(io::Error::other(error.to_string()))).await;
                return false;
            }
        };
        chunk.is_empty() || self.sender.send(Ok(Bytes::from(chunk))).await.is_ok()
    }
}

/// A CSV written by `write` on its own task.
fn csv_answer<T, F, Fut>(filename: String, write: F) -> Answer<T>
where
    F: FnOnce(CsvOut) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, chunks) = tokio::sync::mpsc::channel(8);
    tokio::spawn(write(CsvOut::new(sender)));
    Answer::Csv { filename, chunks }
}

fn time(value: Option<DateTime<Utc>>) -> String {
    value.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).unwrap_or_default()
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `GET /api/reports/posture`.
pub(crate) async fn posture(
    caller: &Caller<'_>,
    params: Result<ReportParams, ApiError>,
) -> Result<Answer<PostureReport>, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let (from, to) = range(params.from, params.to)?;
    let store = &caller.state.store;
    let days = store.attestation_days(&tenant).await?;
    let now = Timestamp::now();
    let overdue_before = now - std::time::Duration::from_secs(u64::from(days) * 86_400);
    let counts = store.posture_counts(&tenant, ts(from), ts(to), overdue_before).await?;
    let catalogue = super::discovery::tenant_catalogue(caller, &tenant).await?;
    let services = store
        .unsanctioned_services(&tenant, ts(from), ts(to), 1000)
        .await?
        .into_iter()
        .map(|row| ServiceInUse {
            service: match catalogue.service(&row.service) {
                Some(s) => ServiceRef {
                    id: row.service,
                    name: s.name.clone(),
                    vendor: Some(s.vendor.clone()),
                    listed: true,
                },
                None => ServiceRef { id: row.service, name: row.service_name, vendor: None, listed: false },
            },
            agents: row.agents,
            requests: row.requests,
            last_seen: row.last_seen.to_datetime(),
        })
        .collect();
    // The days of the range, UTC.
    let first = from.date_naive();
    let last = (to - ChronoDuration::microseconds(1)).date_naive();
    let start = Timestamp::from_datetime(first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let end = Timestamp::from_datetime(
        (last + ChronoDuration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
    );
    let (discovered_before, discovered_days) = store.posture_days(&tenant, false, start, end).await?;
    let (governed_before, governed_days) = store.posture_days(&tenant, true, start, end).await?;
    let discovered_days: HashMap<i64, u64> = discovered_days.into_iter().collect();
    let governed_days: HashMap<i64, u64> = governed_days.into_iter().collect();
    let mut trend = Vec::new();
    let (mut discovered, mut governed) = (discovered_before, governed_before);
    let mut day = first;
    while day <= last {
        let index = (day - NaiveDate::default()).num_days();
        discovered += discovered_days.get(&index).copied().unwrap_or(0);
        governed += governed_days.get(&index).copied().unwrap_or(0);
        trend.push(PostureDay { day, discovered, governed });
        day += ChronoDuration::days(1);
    }
    let coverage =
        if counts.discovered == 0 { 1.0 } else { counts.governed as f64 / counts.discovered as f64 };
    let report = PostureReport {
        range: report_range(&tenant, from, to),
        discovered: counts.discovered,
        governed: counts.governed,
        coverage,
        by_status: StatusCounts {
            unreviewed: counts.unreviewed,
            sanctioned: counts.sanctioned,
            unsanctioned: counts.unsanctioned,
            ignored: counts.ignored,
        },
        without_owner: counts.without_owner,
        overdue_attestations: counts.overdue,
        unsanctioned_services: services,
        trend,
    };
    if !wants_csv(caller, params.format) {
        return Ok(Answer::Json(report));
    }
    // Long form: one figure per row, for a pivot table.
    Ok(csv_answer(filename("posture", &report.range), move |mut out| async move {
        let mut rows: Vec<[String; 3]> = vec![
            ["discovered".into(), String::new(), report.discovered.to_string()],
            ["governed".into(), String::new(), report.governed.to_string()],
            ["coverage".into(), String::new(), format!("{:.4}", report.coverage)],
            ["status".into(), "unreviewed".into(), report.by_status.unreviewed.to_string()],
            ["status".into(), "sanctioned".into(), report.by_status.sanctioned.to_string()],
            ["status".into(), "unsanctioned".into(), report.by_status.unsanctioned.to_string()],
            ["status".into(), "ignored".into(), report.by_status.ignored.to_string()],
            ["without_owner".into(), String::new(), report.without_owner.to_string()],
            ["overdue_attestations".into(), String::new(), report.overdue_attestations.to_string()],
        ];
        for service in &report.unsanctioned_services {
            rows.push([
                "unsanctioned_service_agents".into(),
                service.service.id.clone(),
                service.agents.to_string(),
            ]);
        }
        for day in &report.trend {
            rows.push(["trend_discovered".into(), day.day.to_string(), day.discovered.to_string()]);
            rows.push(["trend_governed".into(), day.day.to_string(), day.governed.to_string()]);
        }
        let range = [
            ("tenant", report.range.tenant.to_string()),
            ("from", time(Some(report.range.from))),
            ("to", time(Some(report.range.to))),
        ];
        if !out.record(["metric", "dimension", "value"]).await {
            return;
        }
        for (name, value) in range {
            if !out.record(["range", name, value.as_str()]).await {
                return;
            }
        }
        for row in &rows {
            if !out.record(row).await {
                return;
            }
        }
        out.flush().await;
    }))
}

/// `GET /api/reports/access`.
pub(crate) async fn access(
    caller: &Caller<'_>,
    params: Result<ReportParams, ApiError>,
) -> Result<Answer<AccessReport>, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let (from, to) = range(params.from, params.to)?;
    let store = &caller.state.store;
    let agents = store.agent_summaries(&tenant).await?;
    let credentials = store.agent_credentials(&tenant, ts(from)).await?;
    let last = store.last_decisions(&tenant, ts(from), ts(to)).await?;
    let mut links: HashMap<String, Vec<DiscoveredAgentId>> = HashMap::new();
    for (agent, discovered) in store.discovered_links(&tenant).await? {
        if let Ok(id) = DiscoveredAgentId::parse(discovered) {
            links.entry(agent).or_default().push(id);
        }
    }
    // Keys bound to no agent may act as any: they are in every agent's rows.
    let unbound: Vec<_> = credentials.iter().filter(|c| c.agent_id.is_none()).collect();
    let mut by_agent: HashMap<&str, Vec<&crate::store::CredentialRow>> = HashMap::new();
    for credential in &credentials {
        if let Some(agent) = credential.agent_id.as_deref() {
            by_agent.entry(agent).or_default().push(credential);
        }
    }
    let mut rows = Vec::new();
    let mut truncated = false;
    'agents: for (id, name, owner, status) in &agents {
        let Ok(agent_id) = AgentId::parse(id.clone()) else { continue };
        let discovered = links.get(id.as_str()).cloned().unwrap_or_default();
        let held: Vec<&crate::store::CredentialRow> =
            by_agent.get(id.as_str()).into_iter().flatten().copied().chain(unbound.iter().copied()).collect();
        let base = AccessRow {
            agent_id,
            agent_name: name.clone(),
            owner: owner.clone(),
            agent_status: status.clone(),
            credential: None,
            credential_id: None,
            environment: None,
            caveats: None,
            issued_at: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            discovered,
        };
        if held.is_empty() {
            rows.push(base.clone());
        }
        for credential in held {
            if rows.len() >= MAX_ROWS {
                truncated = true;
                break 'agents;
            }
            let (kind, principal) = match credential.kind {
                "token" => (CredentialKind::Token, format!("token:{}", credential.id)),
                _ => (CredentialKind::ApiKey, format!("key:{}", credential.id)),
            };
            rows.push(AccessRow {
                credential: Some(kind),
                credential_id: Some(credential.id.clone()),
                environment: credential.environment.clone(),
                caveats: credential.caveats.as_deref().and_then(|c| serde_json::from_str(c).ok()),
                issued_at: Some(credential.issued_at.to_datetime()),
                expires_at: credential.expires_at.map(Timestamp::to_datetime),
                revoked_at: credential.revoked_at.map(Timestamp::to_datetime),
                last_used_at: last.get(&principal).map(|t| t.to_datetime()),
                ..base.clone()
            });
        }
    }
    let report = AccessReport { range: report_range(&tenant, from, to), rows, truncated };
    if !wants_csv(caller, params.format) {
        return Ok(Answer::Json(report));
    }
    Ok(csv_answer(filename("access", &report.range), move |mut out| async move {
        let header = [
            "agent_id",
            "agent_name",
            "owner",
            "agent_status",
            "credential",
            "credential_id",
            "environment",
            "caveats",
            "issued_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "discovered",
        ];
        if !out.record(header).await {
            return;
        }
        for row in &report.rows {
            let fields = [
                row.agent_id.to_string(),
                row.agent_name.clone(),
                row.owner.clone(),
                row.agent_status.clone(),
                row.credential.as_ref().map(json_text).unwrap_or_default(),
                row.credential_id.clone().unwrap_or_default(),
                row.environment.clone().unwrap_or_default(),
                row.caveats.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                time(row.issued_at),
                time(row.expires_at),
                time(row.revoked_at),
                time(row.last_used_at),
                row.discovered.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(" "),
            ];
            if !out.record(&fields).await {
                return;
            }
        }
        out.flush().await;
    }))
}

/// `GET /api/reports/attestation`.
pub(crate) async fn attestation(
    caller: &Caller<'_>,
    params: Result<ReportParams, ApiError>,
) -> Result<Answer<AttestationReport>, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let (from, to) = range(params.from, params.to)?;
    let store = &caller.state.store;
    let days = store.attestation_days(&tenant).await?;
    let interval = ChronoDuration::days(i64::from(days));
    let mut rows = Vec::new();
    let mut truncated = false;
    // Attestations made in the range, newest first, a page at a time.
    let mut after: Option<(Timestamp, String)> = None;
    'pages: loop {
        let page = store.attestations_between(&tenant, ts(from), ts(to), after.clone(), 500).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some((last.attested_at, last.id.clone()));
        let full = page.len() == 500;
        for (attestation, agent) in page {
            if rows.len() >= MAX_ROWS {
                truncated = true;
                break 'pages;
            }
            let person = attestation
                .person
                .as_deref()
                .and_then(|p| serde_json::from_str::<lictor_api::operators::Person>(p).ok())
                .map(|p| format!("{}#{}", p.issuer, p.subject));
            let at = attestation.attested_at.to_datetime();
            rows.push(EvidenceRow {
                kind: EvidenceKind::Attestation,
                discovered_id: agent.id,
                identity: DiscoveredIdentity { kind: agent.identity_kind, value: agent.identity },
                service: agent.service,
                owner: agent.owner,
                status: agent.status,
                attestation_id: Some(attestation.id),
                attester: Some(attestation.attester),
                person,
                statement: Some(attestation.statement),
                attested_at: Some(at),
                due_at: at + interval,
            });
        }
        if !full {
            break;
        }
    }
    // What is overdue now, longest overdue first.
    let cutoff = Timestamp::now() - std::time::Duration::from_secs(u64::from(days) * 86_400);
    if !truncated {
        for agent in store.overdue_discovered(&tenant, cutoff, MAX_ROWS as u32 + 1).await? {
            if rows.len() >= MAX_ROWS {
                truncated = true;
                break;
            }
            let since = agent.attested_at.unwrap_or(agent.created_at).to_datetime();
            rows.push(EvidenceRow {
                kind: EvidenceKind::Overdue,
                discovered_id: agent.id,
                identity: DiscoveredIdentity { kind: agent.identity_kind, value: agent.identity },
                service: agent.service,
                owner: agent.owner,
                status: agent.status,
                attestation_id: None,
                attester: None,
                person: None,
                statement: None,
                attested_at: agent.attested_at.map(Timestamp::to_datetime),
                due_at: since + interval,
            });
        }
    }
    let report =
        AttestationReport { range: report_range(&tenant, from, to), attestation_days: days, rows, truncated };
    if !wants_csv(caller, params.format) {
        return Ok(Answer::Json(report));
    }
    Ok(csv_answer(filename("attestation", &report.range), move |mut out| async move {
        let header = [
            "kind",
            "discovered_id",
            "identity_kind",
            "identity",
            "service",
            "owner",
            "status",
            "attestation_id",
            "attester",
            "person",
            "statement",
            "attested_at",
            "due_at",
        ];
        if !out.record(header).await {
            return;
        }
        for row in &report.rows {
            let fields = [
                json_text(&row.kind),
                row.discovered_id.to_string(),
                json_text(&row.identity.kind),
                row.identity.value.clone(),
                row.service.clone(),
                row.owner.clone().unwrap_or_default(),
                json_text(&row.status),
                row.attestation_id.clone().unwrap_or_default(),
                row.attester.clone().unwrap_or_default(),
                row.person.clone().unwrap_or_default(),
                row.statement.clone().unwrap_or_default(),
                time(row.attested_at),
                time(Some(row.due_at)),
            ];
            if !out.record(&fields).await {
                return;
            }
        }
        out.flush().await;
    }))
}

fn activity_row(group: crate::store::ActivityGroup, bucket: i64) -> ActivityRow {
    ActivityRow {
        bucket_start: Timestamp::from_micros(group.bucket.saturating_mul(bucket)).to_datetime(),
        verdict: group.verdict.unwrap_or_default(),
        stage: group.stage,
        agent_id: group.agent_id,
        tool: group.tool,
        environment: group.environment,
        decisions: group.decisions,
    }
}

/// `GET /api/reports/activity`.
pub(crate) async fn activity(
    caller: &Caller<'_>,
    params: Result<ActivityParams, ApiError>,
) -> Result<Answer<ActivityReport>, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let (from, to) = range(params.from, params.to)?;
    // Every answered decision is committed before the read.
    caller.state.pipeline.writer().settled().await;
    let bucket = params.bucket.unwrap_or_default();
    let hour = bucket == Bucket::Hour;
    let size = bucket_micros(hour);
    let store = caller.state.store.clone();
    let range = report_range(&tenant, from, to);
    if wants_csv(caller, params.format) {
        let groups = store.activity_groups(tenant, hour, ts(from), ts(to));
        return Ok(csv_answer(filename("activity", &range), move |mut out| async move {
            let header = ["bucket_start", "verdict", "stage", "agent_id", "tool", "environment", "decisions"];
            if !out.record(header).await {
                return;
            }
            let mut groups = std::pin::pin!(groups);
            while let Some(group) = groups.next().await {
                let row = match group {
                    Ok(group) => activity_row(group, size),
                    Err(error) => {
                        // The body breaks: a short file never passes for a whole one.
                        let _ = out.sender.send(Err(io::Error::other(error.to_string()))).await;
                        return;
                    }
                };
                let fields = [
                    time(Some(row.bucket_start)),
                    row.verdict,
                    row.stage.unwrap_or_default(),
                    row.agent_id.unwrap_or_default(),
                    row.tool.unwrap_or_default(),
                    row.environment.unwrap_or_default(),
                    row.decisions.to_string(),
                ];
                if !out.record(&fields).await {
                    return;
                }
            }
            out.flush().await;
        }));
    }
    let mut by_verdict = BTreeMap::new();
    let mut decisions = 0;
    for (verdict, n) in store.decisions_by_verdict(&tenant, ts(from), ts(to)).await? {
        decisions += n;
        *by_verdict.entry(verdict.unwrap_or_default()).or_insert(0) += n;
    }
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut groups = std::pin::pin!(store.activity_groups(tenant, hour, ts(from), ts(to)));
    while let Some(group) = groups.next().await {
        if rows.len() >= MAX_ROWS {
            truncated = true;
            break;
        }
        rows.push(activity_row(group?, size));
    }
    Ok(Answer::Json(ActivityReport { range, bucket, decisions, by_verdict, rows, truncated }))
}
