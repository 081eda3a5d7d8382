//! Alerts as each channel's vendor documents its messages.
//!
//! - **Slack** incoming webhook: `{"text": <fallback>, "blocks": [header,
//!   section with mrkdwn text and fields, context, actions]}` (Block Kit);
//!   Slack answers `200 ok`.
//! - **Microsoft Teams** Workflows (or incoming) webhook: a `message` with
//!   one attachment of content type
//!   `application/vnd.microsoft.card.adaptive`, an Adaptive Card 1.4
//!   (`TextBlock`s, a `FactSet`, an `Action.OpenUrl`); answered `202`.
//! - **PagerDuty** Events API v2: `{"routing_key", "event_action":
//!   "trigger" | "resolve", "dedup_key", "payload": {"summary", "source",
//!   "severity", "timestamp", "component", "group", "class",
//!   "custom_details"}, "links", "client", "client_url"}`; answered `202`.
//! - **Webhook**: `{"type": "lictor.alert", "alert": {…}}`, signed like
//!   every webhook of the gateway.

use lictor_api::integrations::Severity;
use serde::Serialize;
use serde_json::{Value, json};

use crate::sinks::shorten;

/// An alert, or the resolution of one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// `trigger` or `resolve`.
    pub action: &'static str,
    /// What it is about (`denial`, …).
    pub kind: &'static str,
    /// How serious.
    pub severity: Severity,
    /// The tenant.
    pub tenant: String,
    /// One line.
    pub title: String,
    /// What happened, in a few lines.
    pub text: String,
    /// How many occurrences it stands for.
    pub count: u64,
    /// Labelled facts (agent, intent, reasons…).
    pub facts: Vec<(String, String)>,
    /// A link to act on (the approval), if there is one.
    pub link: Option<(String, String)>,
    /// De-duplication key: alerts with the same key are one incident.
    pub dedup_key: String,
    /// When (RFC 3339).
    pub time: String,
}

/// The Slack message.
pub fn slack(alert: &Alert) -> Value {
    let emoji = match (alert.action, alert.severity) {
        ("resolve", _) => ":white_check_mark:",
        (_, Severity::Critical) => ":rotating_light:",
        (_, Severity::Error) => ":red_circle:",
        (_, Severity::Warning) => ":warning:",
        (_, Severity::Info) => ":information_source:",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": shorten(&alert.title, 150), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": shorten(&format!("{emoji} {}", alert.text), 3000)}}),
    ];
    let fields: Vec<Value> = alert
        .facts
        .iter()
        .take(10)
        .map(
            |(label, value)| json!({"type": "mrkdwn", "text": shorten(&format!("*{label}*\n{value}"), 2000)}),
        )
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some((label, url)) = &alert.link {
        blocks.push(json!({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url, "style": "primary"}
        ]}));
    }
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("Lictor · tenant `{}` · {} · {}", alert.tenant, alert.severity.as_str(), alert.time)}
    ]}));
    json!({"text": shorten(&format!("{} — {}", alert.title, alert.text), 3000), "blocks": blocks})
}

/// The Teams message: one Adaptive Card.
pub fn teams(alert: &Alert) -> Value {
    let color = match (alert.action, alert.severity) {
        ("resolve", _) => "Good",
        (_, Severity::Critical | Severity::Error) => "Attention",
        (_, Severity::Warning) => "Warning",
        (_, Severity::Info) => "Default",
    };
    let mut facts: Vec<Value> = vec![
        json!({"title": "Tenant", "value": alert.tenant}),
        json!({"title": "Severity", "value": alert.severity.as_str()}),
    ];
    facts.extend(alert.facts.iter().map(|(title, value)| json!({"title": title, "value": value})));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": alert.title, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true},
            {"type": "TextBlock", "text": alert.text, "wrap": true},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": format!("Lictor · {}", alert.time), "isSubtle": true, "size": "Small", "wrap": true},
        ],
    });
    if let Some((label, url)) = &alert.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": label, "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}],
    })
}

/// The PagerDuty event.
pub fn pagerduty(alert: &Alert, routing_key: &str, client_url: Option<&str>) -> Value {
    if alert.action == "resolve" {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.dedup_key});
    }
    let details: serde_json::Map<String, Value> = alert
        .facts
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .chain([("count".to_string(), json!(alert.count)), ("text".to_string(), json!(alert.text))])
        .collect();
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": shorten(&alert.title, 1024),
            "source": format!("lictor/tenants/{}", alert.tenant),
            "severity": alert.severity.as_str(),
            "timestamp": alert.time,
            "component": "lictor",
            "group": alert.tenant,
            "class": alert.kind,
            "custom_details": details,
        },
        "client": "Lictor",
    });
    if let Some(url) = client_url {
        event["client_url"] = json!(url);
    }
    if let Some((label, url)) = &alert.link {
        event["links"] = json!([{"href": url, "text": label}]);
    }
    event
}

/// The webhook body.
pub fn webhook(alert: &Alert) -> Value {
    json!({"type": "lictor.alert", "alert": alert})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            action: "trigger",
            kind: "denial",
            severity: Severity::Warning,
            tenant: "acme".into(),
            title: "3 denials".into(),
            text: "agent-1 was blocked".into(),
            count: 3,
            facts: vec![("Agent".into(), "agent-1".into())],
            link: Some(("Review".into(), "https://lictor.example/a".into())),
            dedup_key: "lictor:acme:denial".into(),
            time: "2026-12-07T10:00:00Z".into(),
        }
    }

    #[test]
    fn messages_have_their_vendors_shapes() {
        let slack = slack(&alert());
        assert_eq!(slack["blocks"][0]["type"], "header");
        assert_eq!(slack["blocks"][3]["elements"][0]["url"], "https://lictor.example/a");
        let teams = teams(&alert());
        assert_eq!(teams["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");
        let pd = pagerduty(&alert(), "k".repeat(32).as_str(), None);
        assert_eq!(pd["payload"]["severity"], "warning");
        assert_eq!(pd["dedup_key"], "lictor:acme:denial");
        let resolved = pagerduty(&Alert { action: "resolve", ..alert() }, "k", None);
        assert_eq!(resolved.as_object().unwrap().len(), 3);
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
