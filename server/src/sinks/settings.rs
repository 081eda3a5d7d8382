//! Sink settings: their checks (the same for the environment and the admin
//! API, each failure naming its field by JSON path) and the environment's
//! `LICTOR_SINK_<NAME>` variables.

use lictor_api::integrations::SinkSettings;

/// A setting that is not acceptable: the JSON path of the field and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SettingError {
    /// The field, as a JSON path (`$.url`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

pub(crate) fn bad(field: &str, message: impl Into<String>) -> SettingError {
    SettingError { path: format!("$.{field}"), message: message.into() }
}

/// `text` as an absolute `http`/`https` URL without credentials, a
/// fragment or whitespace.
pub fn url(text: &str, field: &str) -> Result<reqwest::Url, String> {
    check_url(text, field).map_err(|e| e.to_string())
}

pub(crate) fn check_url(text: &str, field: &str) -> Result<reqwest::Url, SettingError> {
    if text.len() > 2048 || text.chars().any(char::is_whitespace) {
        return Err(bad(field, "must be an absolute URL of at most 2048 characters, without spaces"));
    }
    let parsed = reqwest::Url::parse(text).map_err(|e| bad(field, format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(field, "must be an http or https URL with a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(field, "must not carry credentials (use the secret fields)"));
    }
    if parsed.fragment().is_some() {
        return Err(bad(field, "must not have a fragment"));
    }
    Ok(parsed)
}

pub(crate) fn secret(
    value: Option<&String>,
    field: &str,
    (min, max): (usize, usize),
) -> Result<(), SettingError> {
    let Some(value) = value else {
        return Err(bad(field, "is required"));
    };
    if value.len() < min || value.len() > max || !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad(field, format!("must be {min} to {max} visible ASCII characters without spaces")));
    }
    Ok(())
}

fn text(value: Option<&String>, field: &str, max: usize) -> Result<(), SettingError> {
    match value {
        Some(value)
            if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) =>
        {
            Err(bad(field, format!("must be 1 to {max} characters without control characters")))
        }
        _ => Ok(()),
    }
}

fn matches(value: &str, field: &str, ok: bool, what: &str) -> Result<(), SettingError> {
    if ok { Ok(()) } else { Err(bad(field, format!("`{value}` is not {what}"))) }
}

fn at_least(value: u64, field: &str, min: u64, max: u64) -> Result<(), SettingError> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(bad(field, format!("must be {min} to {max}"))) }
}

/// Checks `settings` as the admin API and the environment take them.
pub fn check(settings: &SinkSettings) -> Result<(), SettingError> {
    let lag = |value: u32| at_least(u64::from(value), "max_lag_seconds", 1, 2_592_000);
    match settings {
        SinkSettings::Webhook(s) => {
            check_url(&s.url, "url")?;
            secret(s.secret.as_ref(), "secret", (16, 512))?;
            at_least(u64::from(s.max_batch), "max_batch", 1, 1000)?;
            lag(s.max_lag_seconds)
        }
        SinkSettings::Splunk(s) => {
            check_url(&s.url, "url")?;
            secret(s.token.as_ref(), "token", (1, 512))?;
            text(s.index.as_ref(), "index", 200)?;
            text(s.source.as_ref(), "source", 200)?;
            text(s.sourcetype.as_ref(), "sourcetype", 200)?;
            text(s.host.as_ref(), "host", 200)?;
            at_least(s.max_batch_bytes, "max_batch_bytes", 65_536, 838_860_800)?;
            lag(s.max_lag_seconds)
        }
        SinkSettings::Datadog(s) => {
            if let Some(url) = &s.url {
                check_url(url, "url")?;
            }
            secret(s.api_key.as_ref(), "api_key", (1, 512))?;
            text(s.service.as_ref(), "service", 200)?;
            text(s.source.as_ref(), "source", 200)?;
            text(s.tags.as_ref(), "tags", 1000)?;
            lag(s.max_lag_seconds)
        }
        SinkSettings::Sentinel(s) => {
            check_url(&s.endpoint, "endpoint")?;
            let rule = s.rule_id.strip_prefix("dcr-");
            let rule_ok = rule.is_some_and(|r| r.len() == 32 && r.bytes().all(|b| b.is_ascii_hexdigit()));
            matches(
                &s.rule_id,
                "rule_id",
                rule_ok,
                "a Data Collection Rule immutable id (`dcr-` and 32 hex digits)",
            )?;
            let stream = s.stream.strip_prefix("Custom-");
            let stream_ok = stream.is_some_and(|r| {
                (1..=100).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            matches(
                &s.stream,
                "stream",
                stream_ok,
                "a custom stream name (`Custom-` and letters, digits, `_`)",
            )?;
            let tenant_ok = (1..=100).contains(&s.tenant_id.len())
                && s.tenant_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            matches(&s.tenant_id, "tenant_id", tenant_ok, "an Entra ID tenant id or domain")?;
            let client_ok = (1..=100).contains(&s.client_id.len())
                && s.client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            matches(&s.client_id, "client_id", client_ok, "an application (client) id")?;
            secret(s.client_secret.as_ref(), "client_secret", (1, 1024))?;
            if let Some(authority) = &s.authority {
                check_url(authority, "authority")?;
            }
            if let Some(scope) = &s.scope {
                let host = scope.strip_prefix("https://").and_then(|rest| rest.strip_suffix("//.default"));
                let ok = scope.len() <= 256
                    && host.is_some_and(|h| {
                        !h.is_empty()
                            && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    });
                matches(scope, "scope", ok, "a scope such as `https://monitor.azure.us//.default`")?;
            }
            lag(s.max_lag_seconds)
        }
        SinkSettings::S3(s) => {
            let bucket_ok = (3..=63).contains(&s.bucket.len())
                && s.bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
                && !s.bucket.starts_with(['.', '-'])
                && !s.bucket.ends_with(['.', '-']);
            matches(&s.bucket, "bucket", bucket_ok, "an S3 bucket name")?;
            let region_ok = (1..=50).contains(&s.region.len())
                && s.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            matches(&s.region, "region", region_ok, "a region name")?;
            let prefix_ok = s.prefix.is_empty()
                || (s.prefix.len() <= 512
                    && s.prefix.ends_with('/')
                    && s.prefix.split('/').rev().skip(1).all(|part| {
                        !part.is_empty()
                            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"!_.*'()=-".contains(&b))
                    }));
            matches(&s.prefix, "prefix", prefix_ok, "a key prefix of safe characters ending in `/`")?;
            if let Some(endpoint) = &s.endpoint {
                check_url(endpoint, "endpoint")?;
            }
            match (&s.access_key_id, &s.secret_access_key) {
                (Some(id), _) => {
                    let id_ok =
                        (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
                    matches(id, "access_key_id", id_ok, "an access key id")?;
                    secret(s.secret_access_key.as_ref(), "secret_access_key", (1, 512))?;
                }
                (None, Some(_)) => return Err(bad("access_key_id", "is required with `secret_access_key`")),
                (None, None) => {}
            }
            at_least(u64::from(s.max_batch), "max_batch", 1, 100_000)?;
            lag(s.max_lag_seconds)
        }
    }
}

/// The prefix of the variables that configure sinks.
pub const ENV_PREFIX: &str = "LICTOR_SINK_";

/// The sinks configured by environment, with their ids:
/// `LICTOR_SINK_<NAME>` holding the settings as JSON
/// (`{"kind":"splunk","url":…,"token":…}`), or `@<path>` of a file holding
/// them. `<NAME>` (letters, digits, `_`) becomes the sink's id
/// `env:<name>`, lower-cased, `_` as `-`.
pub fn from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, SinkSettings)>, String> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut sinks = Vec::new();
    for (key, name, json) in env_values(&vars, ENV_PREFIX)? {
        let settings = lictor_api::extract::parse_json::<SinkSettings>(json.as_bytes()).map_err(|e| {
            let at = e.path.as_deref().map(|p| format!(" at {p}")).unwrap_or_default();
            format!("{key}: {}{at}", e.message)
        })?;
        check(&settings).map_err(|e| format!("{key}: {e}"))?;
        sinks.push((format!("env:{name}"), settings));
    }
    Ok(sinks)
}

/// The variables of `vars` named `<prefix><NAME>`, sorted: each as its
/// variable, its name (lower-cased, `_` as `-`) and its JSON (read from
/// the file a value `@<path>` names).
pub fn env_values(vars: &[(String, String)], prefix: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut found: Vec<&(String, String)> = vars.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
    found.sort();
    let mut values: Vec<(String, String, String)> = Vec::new();
    for (key, value) in found {
        let name = &key[prefix.len()..];
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || name.len() > 64
        {
            return Err(format!(
                "{key}: the name after {prefix} must be 1 to 64 letters, digits or `_`, starting with a letter or digit"
            ));
        }
        let id = name.to_ascii_lowercase().replace('_', "-");
        if let Some((other, _, _)) = values.iter().find(|(_, known, _)| *known == id) {
            return Err(format!(
                "{key}: names the same integration as {other} (names are not case-sensitive)"
            ));
        }
        let json = match value.strip_prefix('@') {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("{key}: cannot read {path}: {e}"))?
            }
            None => value.clone(),
        };
        values.push((key.clone(), id, json));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn sinks_come_from_the_environment() {
        let sinks = from_env(vars(&[
            ("LICTOR_SINK_MAIN_SIEM", r#"{"kind":"splunk","url":"https://hec.example:8088","token":"t0k"}"#),
            ("LICTOR_LISTEN", "0.0.0.0:8080"),
        ]))
        .unwrap();
        assert_eq!(sinks.len(), 1);
        assert_eq!(sinks[0].0, "env:main-siem");
        assert_eq!(sinks[0].1.kind(), "splunk");
    }

    #[test]
    fn bad_settings_name_the_variable_and_the_field() {
        let cases = [
            (r#"{"kind":"splunk","url":"ftp://x","token":"t"}"#, "$.url"),
            (r#"{"kind":"splunk","url":"https://x"}"#, "$.token"),
            (r#"{"kind":"webhook","url":"https://x","secret":"short"}"#, "$.secret"),
            (r#"{"kind":"webhook","url":"https://u:p@x","secret":"0123456789abcdef"}"#, "$.url"),
            (r#"{"kind":"s3","bucket":"Bad_Bucket"}"#, "$.bucket"),
            (r#"{"kind":"s3","bucket":"logs","prefix":"no-slash"}"#, "$.prefix"),
            (r#"{"kind":"s3","bucket":"logs","secret_access_key":"x"}"#, "$.access_key_id"),
            (
                r#"{"kind":"sentinel","endpoint":"https://dce","rule_id":"dcr-1","stream":"Custom-X","tenant_id":"t","client_id":"c","client_secret":"s"}"#,
                "$.rule_id",
            ),
            (r#"{"kind":"splunk","url":"https://x","token":"t","extra":1}"#, "extra"),
        ];
        for (json, path) in cases {
            let error = from_env(vars(&[("LICTOR_SINK_X", json)])).unwrap_err();
            assert!(error.starts_with("LICTOR_SINK_X: "), "{error}");
            assert!(error.contains(path), "{json}: {error}");
        }
        assert!(from_env(vars(&[("LICTOR_SINK_a-b", "{}")])).is_err());
        assert!(from_env(vars(&[("LICTOR_SINK__X", "{}")])).unwrap_err().contains("starting with"));
        let twice = r#"{"kind":"splunk","url":"https://s:8088","token":"t"}"#;
        let error = from_env(vars(&[("LICTOR_SINK_SIEM", twice), ("LICTOR_SINK_siem", twice)])).unwrap_err();
        assert!(error.contains("names the same integration"), "{error}");
    }
}
