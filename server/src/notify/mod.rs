//! Operator notifications: Slack, Microsoft Teams, PagerDuty and webhooks.
//!
//! A channel is a sink of its own (see `crate::sinks`): it reads the audit
//! log forward from its cursor under its lease, so every decision worth an
//! alert is seen exactly where it is recorded, once across replicas, and
//! none is missed across a restart. Each entry is classified ([`AlertKind`]:
//! denials, escalations, step-up requirements, capability and budget
//! failures); the channel's routes keep the kinds and severities it wants.
//! Between batches the channel also looks at what is not an entry:
//! approval requests that expired undecided, audit logs that no longer
//! verify, sinks with dead letters or lagging beyond their limit.
//!
//! Alerts are rate-limited per tenant and kind: the first occurrence
//! alerts at once; the ones within `rate_limit_seconds` after it are
//! counted, and said in one alert when the period ends ("12 more
//! denials"), so a burst is one alert with a count. What alerted, when,
//! and what is counted is kept in the store (`notification_state`), so a
//! restart neither repeats nor forgets it. Conditions (a log that does not
//! verify, dead letters, lag) alert when they appear and are resolved when
//! they clear; for PagerDuty, a burst's incident (its dedup key) is
//! resolved once a period passes without occurrences. Counts are at least
//! once: a batch delivered again after a failure is counted again.

pub mod render;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lictor_api::audit::{AuditEntry, AuditKind};
use lictor_api::ids::TenantId;
use lictor_api::integrations::{AlertKind, ChannelSettings, Severity};
use lictor_api::intents::{StageName, Verdict};

use crate::audit::checkpointer::Checkpointer;
use crate::clock::Timestamp;
use crate::integrations::runtime::WatchedSinks;
use crate::sinks::{BatchLimits, Destination, Outgoing, Refusal, SinkEvent, judge, transport_error};
use crate::store::{NotificationState, Store, StoreError};
use crate::webhooks::{SIGNATURE_HEADER, signature};
use render::Alert;

/// How often conditions and approval expiries are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Something worth an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    /// What it is about.
    pub kind: AlertKind,
    /// How serious.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few lines.
    pub text: String,
    /// Labelled facts.
    pub facts: Vec<(String, String)>,
    /// A link to act on.
    pub link: Option<(String, String)>,
    /// Whether it sums up occurrences already counted.
    pub summary: bool,
}

/// What occurrences of `kind` are called, `count` of them.
fn named(kind: AlertKind, count: u64) -> String {
    let one = match kind {
        AlertKind::Denial => "denial",
        AlertKind::Escalation => "escalation",
        AlertKind::ApprovalTimeout => "approval timeout",
        AlertKind::StepUpRequired => "step-up requirement",
        AlertKind::CapabilityFailure => "capability refusal",
        AlertKind::BudgetFailure => "exhausted budget",
        AlertKind::AuditVerificationFailure => "verification failure",
        AlertKind::SinkDeadLetter => "dead letter",
        AlertKind::SinkLagging => "lagging sink",
    };
    if count == 1 { one.to_string() } else { format!("{one}s") }
}

/// The occurrence an audit entry is, if it is one.
pub fn classify(entry: &AuditEntry, public_url: Option<&str>) -> Option<Occurrence> {
    if entry.kind != AuditKind::Decision {
        return None;
    }
    let verdict = entry.verdict?;
    let agent = entry.agent_id.as_ref().map_or_else(|| "an unknown agent".to_string(), ToString::to_string);
    let what = entry.tool.clone().unwrap_or_else(|| "an intent".into());
    let reasons: Vec<String> = entry.reasons.iter().map(|r| format!("{}: {}", r.code, r.message)).collect();
    let mut facts = vec![("Agent".to_string(), agent.clone())];
    if let Some(intent) = &entry.intent_id {
        facts.push(("Intent".into(), intent.to_string()));
    }
    if let Some(tool) = &entry.tool {
        facts.push(("Tool".into(), tool.clone()));
    }
    if let Some(stage) = entry.stage {
        facts.push(("Stage".into(), stage.as_str().into()));
    }
    if !reasons.is_empty() {
        facts.push(("Reasons".into(), reasons.join("; ")));
    }
    facts.push(("Audit entry".into(), format!("{} (seq {})", entry.entry_id, entry.seq)));
    let enforced = entry.enforced.unwrap_or(true);
    let severity = if enforced { Severity::Warning } else { Severity::Info };
    let shadow = if enforced { "" } else { " (shadow: not enforced)" };
    let first_reason = reasons.first().cloned().unwrap_or_default();
    match verdict {
        Verdict::Block => {
            let kind = if entry.reasons.iter().any(|r| r.code.contains("step_up")) {
                AlertKind::StepUpRequired
            } else {
                match entry.stage {
                    Some(StageName::Capability) => AlertKind::CapabilityFailure,
                    Some(StageName::Budget) => AlertKind::BudgetFailure,
                    _ => AlertKind::Denial,
                }
            };
            let title = match kind {
                AlertKind::StepUpRequired => format!("Step-up required for {agent}"),
                AlertKind::CapabilityFailure => format!("Capability refused for {agent}"),
                AlertKind::BudgetFailure => format!("Budget exhausted for {agent}"),
                _ => format!("{agent} was blocked"),
            };
            Some(Occurrence {
                kind,
                severity,
                title: format!("{title}{shadow}"),
                text: format!("{agent} was blocked from {what}. {first_reason}"),
                facts,
                link: None,
                summary: false,
            })
        }
        Verdict::Escalate => {
            let link = match (&entry.approval_id, public_url) {
                (Some(approval), Some(base)) => Some((
                    "Review the approval".to_string(),
                    format!(
                        "{}/v1/admin/approvals/{approval}?tenant={}",
                        base.trim_end_matches('/'),
                        entry.tenant
                    ),
                )),
                _ => None,
            };
            if let Some(approval) = &entry.approval_id {
                facts.push(("Approval".into(), approval.clone()));
            }
            // An exhausted budget asks a human rather than blocking.
            let (kind, title) = match entry.stage {
                Some(StageName::Budget) => {
                    (AlertKind::BudgetFailure, format!("Budget exhausted for {agent}: approval needed"))
                }
                _ => (AlertKind::Escalation, format!("Approval needed: {agent}")),
            };
            Some(Occurrence {
                kind,
                severity,
                title: format!("{title}{shadow}"),
                text: format!("{agent} asked for {what}, which needs a human's approval. {first_reason}"),
                facts,
                link,
                summary: false,
            })
        }
        Verdict::Approve | Verdict::ApproveModified => None,
    }
}

/// A notification channel as a sink's destination.
pub struct ChannelDestination {
    id: String,
    scope: Option<TenantId>,
    settings: ChannelSettings,
    store: Store,
    client: reqwest::Client,
    checkpoints: Checkpointer,
    sinks: WatchedSinks,
    public_url: Option<String>,
    looked: Mutex<Option<Instant>>,
}

fn store_failure(error: StoreError) -> Refusal {
    Refusal::transport(format!("store: {error}"))
}

impl ChannelDestination {
    /// The destination of channel `id`, serving `scope` (`None`: every
    /// tenant).
    pub fn new(
        (id, scope, settings): (String, Option<TenantId>, ChannelSettings),
        store: Store,
        client: reqwest::Client,
        (checkpoints, sinks): (Checkpointer, WatchedSinks),
        public_url: Option<String>,
    ) -> Result<ChannelDestination, String> {
        crate::integrations::Settings::Channel(settings.clone()).check().map_err(|e| e.to_string())?;
        Ok(ChannelDestination {
            id,
            scope,
            settings,
            store,
            client,
            checkpoints,
            sinks,
            public_url,
            looked: Mutex::new(None),
        })
    }

    fn routed(&self, kind: AlertKind, severity: Severity) -> bool {
        self.settings.routes().iter().any(|route| {
            (route.events.is_empty() || route.events.contains(&kind)) && severity >= route.min_severity
        })
    }

    fn window(&self) -> Duration {
        Duration::from_secs(u64::from(self.settings.rate_limit_seconds()))
    }

    /// Sends `alert` as the channel's vendor wants it. Slack and Teams
    /// say nothing of a burst's end (PagerDuty resolves its incident).
    async fn post(&self, alert: &Alert) -> Result<(), Refusal> {
        let (url, body, secret) = match &self.settings {
            ChannelSettings::Slack(c) => (c.webhook_url.clone(), render::slack(alert), None),
            ChannelSettings::Teams(c) => (c.webhook_url.clone(), render::teams(alert), None),
            ChannelSettings::Pagerduty(c) => (
                Some(c.events_url().to_string()),
                render::pagerduty(
                    alert,
                    c.routing_key.as_deref().unwrap_or_default(),
                    self.public_url.as_deref(),
                ),
                None,
            ),
            ChannelSettings::Webhook(c) => (Some(c.url.clone()), render::webhook(alert), c.secret.clone()),
        };
        let url = url.ok_or_else(|| Refusal::transport("the channel has no URL"))?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut request = self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = secret {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .header(SIGNATURE_HEADER, signature(&secret, timestamp, &body))
                .header("Lictor-Event", "alert");
        }
        let response = request.body(body).send().await.map_err(|e| transport_error(&e))?;
        judge(response).await.map(drop)
    }

    fn alert(&self, tenant: &TenantId, key: &str, occurrence: &Occurrence, count: u64) -> Alert {
        let title = if count > 1 && !occurrence.summary {
            format!("{count} × {} — latest: {}", occurrence.kind.as_str().replace('_', " "), occurrence.title)
        } else {
            occurrence.title.clone()
        };
        Alert {
            action: "trigger",
            kind: occurrence.kind.as_str(),
            severity: occurrence.severity,
            tenant: tenant.to_string(),
            title,
            text: occurrence.text.clone(),
            count,
            facts: occurrence.facts.clone(),
            link: occurrence.link.clone(),
            dedup_key: format!("lictor:{tenant}:{key}"),
            time: now_rfc3339(),
        }
    }

    fn resolution(&self, tenant: &TenantId, key: &str, kind: AlertKind, detail: Option<String>) -> Alert {
        Alert {
            action: "resolve",
            kind: kind.as_str(),
            severity: Severity::Info,
            tenant: tenant.to_string(),
            title: format!("Resolved: {}", detail.unwrap_or_else(|| kind.as_str().replace('_', " "))),
            text: "The condition has cleared.".into(),
            count: 0,
            facts: Vec::new(),
            link: None,
            dedup_key: format!("lictor:{tenant}:{key}"),
            time: now_rfc3339(),
        }
    }

    async fn state(&self, tenant: &TenantId, key: &str) -> Result<NotificationState, Refusal> {
        self.store.notification_state(&self.id, tenant, key).await.map_err(store_failure)
    }

    async fn save(&self, tenant: &TenantId, key: &str, state: &NotificationState) -> Result<(), Refusal> {
        self.store.set_notification_state(&self.id, tenant, key, state).await.map_err(store_failure)
    }

    /// `occurrences` (one kind, one tenant) happened: alert now, or count
    /// them for the end of the period.
    async fn observe(&self, tenant: &TenantId, occurrences: &[Occurrence]) -> Result<(), Refusal> {
        let Some(latest) = occurrences.last() else { return Ok(()) };
        let key = latest.kind.as_str();
        let mut state = self.state(tenant, key).await?;
        let now = Timestamp::now();
        let n = occurrences.len() as u64;
        if state.sent_at.is_none_or(|sent| now.since(sent) >= self.window()) {
            let alert = self.alert(tenant, key, latest, n + state.suppressed);
            self.post(&alert).await?;
            state.sent_at = Some(now);
            state.suppressed = 0;
            state.open = true;
            state.detail = Some(latest.title.clone());
        } else {
            state.suppressed += n;
        }
        state.last_seen_at = Some(now);
        self.save(tenant, key, &state).await
    }

    /// Says what was counted once its period ended; resolves a burst's
    /// incident once a period passed without occurrences.
    async fn settle_bursts(&self) -> Result<(), Refusal> {
        let now = Timestamp::now();
        for (tenant, key) in self.store.open_notifications(&self.id).await.map_err(store_failure)? {
            let Some(kind) = AlertKind::ALL.into_iter().find(|k| k.as_str() == key) else { continue };
            if kind.is_condition() {
                continue;
            }
            let mut state = self.state(&tenant, &key).await?;
            let elapsed = |at: Option<Timestamp>| at.is_none_or(|at| now.since(at) >= self.window());
            if state.suppressed > 0 && elapsed(state.sent_at) {
                let occurrence = Occurrence {
                    kind,
                    severity: Severity::Warning,
                    title: format!(
                        "{} more {} since the last alert",
                        state.suppressed,
                        named(kind, state.suppressed)
                    ),
                    text: format!(
                        "{} more {} in tenant {tenant} within {} s of the last alert (see the audit log).",
                        state.suppressed,
                        named(kind, state.suppressed),
                        self.window().as_secs()
                    ),
                    facts: Vec::new(),
                    link: None,
                    summary: true,
                };
                let alert = self.alert(&tenant, &key, &occurrence, state.suppressed);
                self.post_settling(&tenant, &alert).await?;
                state.sent_at = Some(now);
                state.suppressed = 0;
                state.open = true;
            } else if state.suppressed == 0 && state.open && elapsed(state.last_seen_at) {
                if matches!(self.settings, ChannelSettings::Pagerduty(_)) {
                    let alert = self.resolution(&tenant, &key, kind, state.detail.clone());
                    self.post_settling(&tenant, &alert).await?;
                }
                state.open = false;
            } else {
                continue;
            }
            self.save(&tenant, &key, &state).await?;
        }
        Ok(())
    }

    /// Posts an alert that is not an audit event's (there is no event to
    /// set aside): a refusal for good is recorded in `tenant`'s health and
    /// passed (the state moves on); a passing failure is retried.
    async fn post_settling(&self, tenant: &TenantId, alert: &Alert) -> Result<(), Refusal> {
        match self.post(alert).await {
            Ok(()) => Ok(()),
            Err(Refusal::Reject { message, .. }) => {
                let message = format!("the channel refused an alert for good: {message}");
                self.store
                    .record_sink_failure(&self.id, tenant, &message, Timestamp::now())
                    .await
                    .map_err(store_failure)
            }
            Err(retry) => Err(retry),
        }
    }

    /// Approval requests that expired undecided since the last look.
    async fn timed_out_approvals(&self) -> Result<(), Refusal> {
        let now = Timestamp::now();
        let since = match self.store.notification_watermark(&self.id).await.map_err(store_failure)? {
            Some(since) => since,
            None => {
                // From now on: what expired before the channel existed is
                // not news.
                self.store.set_notification_watermark(&self.id, now).await.map_err(store_failure)?;
                return Ok(());
            }
        };
        let expired = self
            .store
            .approvals_timed_out(self.scope.as_ref(), (since, now), 500)
            .await
            .map_err(store_failure)?;
        let upto = if expired.len() == 500 { expired.last().map_or(now, |a| a.expires_at) } else { now };
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<Occurrence>> = Default::default();
        for approval in expired {
            let occurrence = Occurrence {
                kind: AlertKind::ApprovalTimeout,
                severity: Severity::Warning,
                title: format!("Approval expired undecided: {}", approval.agent_id),
                text: format!(
                    "The approval request {} of {} for {} expired without a decision: the action was not taken.",
                    approval.id, approval.agent_id, approval.action
                ),
                facts: vec![
                    ("Agent".into(), approval.agent_id.clone()),
                    ("Action".into(), approval.action.clone()),
                    ("Approval".into(), approval.id.clone()),
                ],
                link: None,
                summary: false,
            };
            if self.routed(occurrence.kind, occurrence.severity) {
                by_tenant.entry(approval.tenant.clone()).or_default().push(occurrence);
            }
        }
        for (tenant, occurrences) in by_tenant {
            self.observe(&tenant, &occurrences).await?;
        }
        self.store.set_notification_watermark(&self.id, upto).await.map_err(store_failure)
    }

    /// Logs that do not verify, sinks with dead letters or lagging: alert
    /// when they appear, resolve when they clear.
    async fn conditions(&self) -> Result<(), Refusal> {
        let now = Timestamp::now();
        let mut present: Vec<(TenantId, String, Occurrence)> = Vec::new();
        for (tenant, failure) in self.checkpoints.refused() {
            if self.scope.as_ref().is_some_and(|s| *s != tenant) {
                continue;
            }
            present.push((
                tenant.clone(),
                AlertKind::AuditVerificationFailure.as_str().to_string(),
                Occurrence {
                    kind: AlertKind::AuditVerificationFailure,
                    severity: Severity::Critical,
                    title: format!("Audit log of {tenant} does not verify"),
                    text: format!(
                        "Entry {} does not verify ({}): expected {}, found {}. Checkpoints have stopped for this tenant.",
                        failure.seq, failure.reason, failure.expected, failure.found
                    ),
                    facts: vec![("Position".into(), failure.seq.to_string())],
                    link: None,
                    summary: false,
                },
            ));
        }
        let sinks = self.sinks.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for sink in sinks {
            let tenant = match (&self.scope, &sink.tenant) {
                (Some(mine), Some(its)) if mine != its => continue,
                (Some(mine), _) => Some(mine.clone()),
                (None, its) => its.clone(),
            };
            for row in self.store.sink_status(&sink.id, tenant.as_ref()).await.map_err(store_failure)? {
                if row.dead_letters > 0 {
                    present.push((
                        row.tenant.clone(),
                        format!("{}:{}", AlertKind::SinkDeadLetter.as_str(), sink.id),
                        Occurrence {
                            kind: AlertKind::SinkDeadLetter,
                            severity: Severity::Error,
                            title: format!("Sink {} has {} dead letters", sink.id, row.dead_letters),
                            text: format!(
                                "The destination of sink {} refused {} events of tenant {} for good; see GET /v1/admin/integrations/{}/dead-letters and redrive them once fixed.",
                                sink.id, row.dead_letters, row.tenant, sink.id
                            ),
                            facts: vec![("Sink".into(), sink.id.clone())],
                            link: None,
                            summary: false,
                        },
                    ));
                }
                let lag = row.oldest_pending.map_or(0.0, |t| now.since(t).as_secs_f64());
                if lag > sink.max_lag_seconds as f64 {
                    present.push((
                        row.tenant.clone(),
                        format!("{}:{}", AlertKind::SinkLagging.as_str(), sink.id),
                        Occurrence {
                            kind: AlertKind::SinkLagging,
                            severity: Severity::Error,
                            title: format!("Sink {} is {lag:.0} s behind", sink.id),
                            text: format!(
                                "{} entries of tenant {} are not delivered yet; the oldest is {lag:.0} s old (limit {} s). Last error: {}",
                                row.head.saturating_sub(row.cursor.seq),
                                row.tenant,
                                sink.max_lag_seconds,
                                row.last_error.as_ref().map_or("none", |(e, _)| e.as_str())
                            ),
                            facts: vec![("Sink".into(), sink.id.clone())],
                            link: None,
                            summary: false,
                        },
                    ));
                }
            }
        }
        for (tenant, key, occurrence) in &present {
            if !self.routed(occurrence.kind, occurrence.severity) {
                continue;
            }
            let mut state = self.state(tenant, key).await?;
            if state.open {
                continue;
            }
            let alert = self.alert(tenant, key, occurrence, 1);
            self.post_settling(tenant, &alert).await?;
            state.open = true;
            state.sent_at = Some(now);
            state.last_seen_at = Some(now);
            state.detail = Some(occurrence.title.clone());
            self.save(tenant, key, &state).await?;
        }
        for (tenant, key) in self.store.open_notifications(&self.id).await.map_err(store_failure)? {
            let Some(kind) = AlertKind::ALL
                .into_iter()
                .find(|k| k.is_condition() && key.split(':').next() == Some(k.as_str()))
            else {
                continue;
            };
            if present.iter().any(|(t, k, _)| *t == tenant && *k == key) {
                continue;
            }
            let mut state = self.state(&tenant, &key).await?;
            let alert = self.resolution(&tenant, &key, kind, state.detail.clone());
            self.post_settling(&tenant, &alert).await?;
            state.open = false;
            self.save(&tenant, &key, &state).await?;
        }
        Ok(())
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[async_trait::async_trait]
impl Destination for ChannelDestination {
    fn limits(&self) -> BatchLimits {
        BatchLimits { events: 500, bytes: 8 << 20, per_event: 0 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let mut groups: Vec<(AlertKind, Vec<Occurrence>)> = Vec::new();
        for rendered in outgoing.events {
            let SinkEvent::Entry { entry, .. } = &rendered.event else { continue };
            let Some(occurrence) = classify(entry, self.public_url.as_deref()) else { continue };
            if !self.routed(occurrence.kind, occurrence.severity) {
                continue;
            }
            match groups.iter_mut().find(|(kind, _)| *kind == occurrence.kind) {
                Some((_, list)) => list.push(occurrence),
                None => groups.push((occurrence.kind, vec![occurrence])),
            }
        }
        for (_, occurrences) in groups {
            self.observe(outgoing.tenant, &occurrences).await?;
        }
        Ok(())
    }

    async fn idle(&self) -> Result<(), Refusal> {
        self.settle_bursts().await?;
        let due = {
            let mut looked = self.looked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = looked.is_none_or(|at| at.elapsed() >= LOOK_EVERY);
            if due {
                *looked = Some(Instant::now());
            }
            due
        };
        if due {
            self.timed_out_approvals().await?;
            self.conditions().await?;
        }
        Ok(())
    }
}
