//! Integrations: audit sinks and notification channels, as the
//! environment (`LICTOR_SINK_<NAME>`, `LICTOR_CHANNEL_<NAME>`) and the
//! admin API (`/v1/admin/integrations`) configure them.
//!
//! A stored integration keeps its settings in the clear, without secrets,
//! and its secrets sealed ([`seal`]): encrypted and authenticated with a
//! key derived from the gateway's checkpoint key, which lives outside the
//! database, and bound to the integration's id, tenant and settings. Someone
//! with the database alone cannot read a secret, and a row they change or
//! make does not open: pointing a sink at another URL stops it rather than
//! sending its token there.
//!
//! [`runtime`] runs a sender for each enabled integration.

pub mod egress;
pub mod runtime;
pub mod seal;

use std::collections::BTreeMap;

use lictor_api::ids::TenantId;
use lictor_api::integrations::{
    ChannelSettings, IntegrationCategory, IntegrationId, IntegrationSettings, Route, SinkSettings,
};

use crate::sinks::settings::{SettingError, bad, check_url, secret};

/// A sink's or a channel's settings.
#[derive(Clone, Debug, PartialEq)]
pub enum Settings {
    /// An audit sink.
    Sink(SinkSettings),
    /// A notification channel.
    Channel(ChannelSettings),
}

/// A secret field of a kind: its name, and a handle on its value.
type SecretField<'a> = (&'static str, &'a mut Option<String>);

impl From<IntegrationSettings> for Settings {
    fn from(settings: IntegrationSettings) -> Settings {
        match settings.split() {
            Ok(sink) => Settings::Sink(sink),
            Err(channel) => Settings::Channel(channel),
        }
    }
}

impl Settings {
    /// The API's form.
    pub fn to_api(&self) -> IntegrationSettings {
        match self {
            Settings::Sink(s) => s.clone().into(),
            Settings::Channel(c) => c.clone().into(),
        }
    }

    /// Sink or channel.
    pub fn category(&self) -> IntegrationCategory {
        match self {
            Settings::Sink(_) => IntegrationCategory::Sink,
            Settings::Channel(_) => IntegrationCategory::Channel,
        }
    }

    /// `sink` or `channel`.
    pub fn category_name(&self) -> &'static str {
        match self {
            Settings::Sink(_) => "sink",
            Settings::Channel(_) => "channel",
        }
    }

    /// The kind, as the API names it (`splunk`, `slack`, `alert_webhook`…).
    pub fn kind(&self) -> &'static str {
        match self {
            Settings::Sink(s) => s.kind(),
            Settings::Channel(ChannelSettings::Webhook(_)) => "alert_webhook",
            Settings::Channel(c) => c.kind(),
        }
    }

    /// Where it delivers, without credentials.
    pub fn endpoint(&self) -> String {
        match self {
            Settings::Sink(s) => s.endpoint(),
            Settings::Channel(c) => c.endpoint(),
        }
    }

    /// The URLs it sends to, by field.
    pub fn urls(&self) -> Vec<(&'static str, String)> {
        let mut urls = Vec::new();
        match self {
            Settings::Sink(SinkSettings::Webhook(s)) => urls.push(("url", s.url.clone())),
            Settings::Sink(SinkSettings::Splunk(s)) => urls.push(("url", s.url.clone())),
            Settings::Sink(SinkSettings::Datadog(s)) => urls.push(("url", s.intake_url())),
            Settings::Sink(SinkSettings::Sentinel(s)) => {
                urls.push(("endpoint", s.endpoint.clone()));
                urls.extend(s.authority.clone().map(|a| ("authority", a)));
            }
            Settings::Sink(SinkSettings::S3(s)) => urls.extend(s.endpoint.clone().map(|e| ("endpoint", e))),
            Settings::Channel(ChannelSettings::Slack(c)) => {
                urls.extend(c.webhook_url.clone().map(|u| ("webhook_url", u)))
            }
            Settings::Channel(ChannelSettings::Teams(c)) => {
                urls.extend(c.webhook_url.clone().map(|u| ("webhook_url", u)))
            }
            Settings::Channel(ChannelSettings::Pagerduty(c)) => {
                urls.push(("url", c.events_url().to_string()))
            }
            Settings::Channel(ChannelSettings::Webhook(c)) => urls.push(("url", c.url.clone())),
        }
        urls
    }

    /// The kind's secret fields.
    fn secret_fields(&mut self) -> Vec<SecretField<'_>> {
        match self {
            Settings::Sink(SinkSettings::Webhook(s)) => vec![("secret", &mut s.secret)],
            Settings::Sink(SinkSettings::Splunk(s)) => vec![("token", &mut s.token)],
            Settings::Sink(SinkSettings::Datadog(s)) => vec![("api_key", &mut s.api_key)],
            Settings::Sink(SinkSettings::Sentinel(s)) => vec![("client_secret", &mut s.client_secret)],
            Settings::Sink(SinkSettings::S3(s)) => vec![("secret_access_key", &mut s.secret_access_key)],
            Settings::Channel(ChannelSettings::Slack(c)) => vec![("webhook_url", &mut c.webhook_url)],
            Settings::Channel(ChannelSettings::Teams(c)) => vec![("webhook_url", &mut c.webhook_url)],
            Settings::Channel(ChannelSettings::Pagerduty(c)) => vec![("routing_key", &mut c.routing_key)],
            Settings::Channel(ChannelSettings::Webhook(c)) => vec![("secret", &mut c.secret)],
        }
    }

    /// The secrets that are set, by field.
    pub fn secrets(&self) -> BTreeMap<String, String> {
        let mut copy = self.clone();
        copy.secret_fields()
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v)))
            .collect()
    }

    /// The names of the secret fields that are set.
    pub fn secret_names(&self) -> Vec<String> {
        self.secrets().into_keys().collect()
    }

    /// Sets the secrets of `secrets` (unknown names are ignored).
    pub fn set_secrets(&mut self, secrets: &BTreeMap<String, String>) {
        for (name, value) in self.secret_fields() {
            if let Some(secret) = secrets.get(name) {
                *value = Some(secret.clone());
            }
        }
    }

    /// Keeps `old`'s secrets where these settings leave a field out.
    pub fn keep_secrets_from(&mut self, old: &Settings) {
        let kept = old.secrets();
        for (name, value) in self.secret_fields() {
            if value.is_none()
                && let Some(secret) = kept.get(name)
            {
                *value = Some(secret.clone());
            }
        }
    }

    /// The settings' JSON without secrets (what is stored in the clear).
    pub fn public_json(&self) -> serde_json::Value {
        match self {
            Settings::Sink(s) => serde_json::to_value(s),
            Settings::Channel(c) => serde_json::to_value(c),
        }
        .unwrap_or_default()
    }

    /// Reads stored settings of `category` (secrets absent).
    pub fn from_public_json(category: &str, json: &str) -> Result<Settings, String> {
        match category {
            "sink" => serde_json::from_str(json).map(Settings::Sink).map_err(|e| e.to_string()),
            "channel" => serde_json::from_str(json).map(Settings::Channel).map_err(|e| e.to_string()),
            other => Err(format!("unknown category `{other}`")),
        }
    }

    /// Checks the settings, naming the bad field by JSON path (relative to
    /// the settings object).
    pub fn check(&self) -> Result<(), SettingError> {
        match self {
            Settings::Sink(s) => crate::sinks::settings::check(s),
            Settings::Channel(c) => check_channel(c),
        }
    }
}

fn check_routes(routes: &[Route]) -> Result<(), SettingError> {
    if routes.len() > 20 {
        return Err(bad("routes", "at most 20 routes"));
    }
    Ok(())
}

/// Checks a channel's settings.
fn check_channel(channel: &ChannelSettings) -> Result<(), SettingError> {
    match channel {
        ChannelSettings::Slack(c) => {
            check_url(require(c.webhook_url.as_ref(), "webhook_url")?, "webhook_url")?
        }
        ChannelSettings::Teams(c) => {
            check_url(require(c.webhook_url.as_ref(), "webhook_url")?, "webhook_url")?
        }
        ChannelSettings::Pagerduty(c) => {
            let key = require(c.routing_key.as_ref(), "routing_key")?;
            if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad("routing_key", "must be the 32 letters and digits of an integration key"));
            }
            check_url(c.events_url(), "url")?
        }
        ChannelSettings::Webhook(c) => {
            secret(c.secret.as_ref(), "secret", (16, 512))?;
            check_url(&c.url, "url")?
        }
    };
    check_routes(channel.routes())?;
    if channel.rate_limit_seconds() > 86_400 {
        return Err(bad("rate_limit_seconds", "must be 0 to 86400"));
    }
    Ok(())
}

fn require<'a>(value: Option<&'a String>, field: &str) -> Result<&'a String, SettingError> {
    value.ok_or_else(|| bad(field, "is required"))
}

/// An integration ready to run: its id, settings (with secrets) and the
/// tenant it serves (`None`: every tenant). Its `Debug` shows no secret.
#[derive(Clone, PartialEq)]
pub struct Configured {
    /// `env:<name>` or `itg_…`.
    pub id: IntegrationId,
    /// What and where.
    pub settings: Settings,
    /// The one tenant it serves.
    pub tenant: Option<TenantId>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("id", &self.id)
            .field("kind", &self.settings.kind())
            .field("settings", &self.settings.public_json())
            .field("secrets", &self.settings.secret_names())
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// The prefix of the variables that configure notification channels.
pub const CHANNEL_ENV_PREFIX: &str = "LICTOR_CHANNEL_";

/// The integrations the environment configures: `LICTOR_SINK_<NAME>` and
/// `LICTOR_CHANNEL_<NAME>`, each holding its settings as JSON (or
/// `@<path>` of a file holding them). `<NAME>` (letters, digits, `_`)
/// becomes the id `env:<name>`, lower-cased, `_` as `-`; a sink and a
/// channel cannot share one.
pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Configured>, String> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut configured = Vec::new();
    for (id, settings) in crate::sinks::settings::from_env(vars.clone())? {
        configured.push(Configured {
            id: IntegrationId::parse(id).map_err(|e| e.to_string())?,
            settings: Settings::Sink(settings),
            tenant: None,
        });
    }
    for (key, name, json) in crate::sinks::settings::env_values(&vars, CHANNEL_ENV_PREFIX)? {
        let channel = lictor_api::extract::parse_json::<ChannelSettings>(json.as_bytes()).map_err(|e| {
            let at = e.path.as_deref().map(|p| format!(" at {p}")).unwrap_or_default();
            format!("{key}: {}{at}", e.message)
        })?;
        check_channel(&channel).map_err(|e| format!("{key}: {e}"))?;
        let id = IntegrationId::parse(format!("env:{name}")).map_err(|e| format!("{key}: {e}"))?;
        if configured.iter().any(|c| c.id == id) {
            return Err(format!("{key}: a sink is already named `{name}`"));
        }
        configured.push(Configured { id, settings: Settings::Channel(channel), tenant: None });
    }
    Ok(configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_taken_out_and_put_back() {
        let settings: SinkSettings =
            serde_json::from_str(r#"{"kind":"datadog","api_key":"k-1","service":"gw"}"#).unwrap();
        let mut settings = Settings::Sink(settings);
        assert_eq!(settings.secret_names(), vec!["api_key"]);
        let public = settings.public_json();
        assert!(public.get("api_key").is_none());
        let mut stored = Settings::from_public_json("sink", &public.to_string()).unwrap();
        assert!(stored.secrets().is_empty());
        stored.set_secrets(&settings.secrets());
        assert_eq!(stored, settings);
        // An update that leaves the secret out keeps it.
        let mut update =
            Settings::Sink(serde_json::from_str(r#"{"kind":"datadog","service":"other"}"#).unwrap());
        update.keep_secrets_from(&settings);
        assert_eq!(update.secrets()["api_key"], "k-1");
        settings.keep_secrets_from(&update);
        assert_eq!(settings.secrets()["api_key"], "k-1");
    }

    #[test]
    fn channels_come_from_the_environment_and_are_checked() {
        let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
        };
        let all = from_env(vars(&[
            (
                "LICTOR_CHANNEL_ONCALL",
                r#"{"kind":"pagerduty","routing_key":"0123456789abcdef0123456789abcdef"}"#,
            ),
            ("LICTOR_SINK_SIEM", r#"{"kind":"splunk","url":"https://s:8088","token":"t"}"#),
        ]))
        .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].id.as_str(), "env:oncall");
        for (json, path) in [
            (r#"{"kind":"pagerduty","routing_key":"short"}"#, "$.routing_key"),
            (r#"{"kind":"slack"}"#, "$.webhook_url"),
            (r#"{"kind":"teams","webhook_url":"ftp://x"}"#, "$.webhook_url"),
            (r#"{"kind":"webhook","url":"https://x","secret":"short"}"#, "$.secret"),
            (
                r#"{"kind":"slack","webhook_url":"https://x","rate_limit_seconds":100000}"#,
                "$.rate_limit_seconds",
            ),
        ] {
            let error = from_env(vars(&[("LICTOR_CHANNEL_X", json)])).unwrap_err();
            assert!(error.contains(path), "{json}: {error}");
        }
        let clash = from_env(vars(&[
            ("LICTOR_CHANNEL_A", r#"{"kind":"slack","webhook_url":"https://hooks.slack.com/services/x"}"#),
            ("LICTOR_SINK_A", r#"{"kind":"splunk","url":"https://s:8088","token":"t"}"#),
        ]));
        assert!(clash.unwrap_err().contains("already named"));
    }
}
