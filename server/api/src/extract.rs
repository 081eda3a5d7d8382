//! Request extractors that never fail before the handler runs.
//!
//! Dropshot's own extractors turn bad input into an error before the handler
//! is called, without the request id and without saying which field was bad.
//! These wrappers describe the same OpenAPI parameters as dropshot's
//! (`TypedBody`, `Query`, `Path`, `Header`) but hand the outcome to the
//! handler, which answers with the full [`ApiError`]: stable code, request
//! id and the JSONPath of the offending field.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode};

#[cfg(feature = "endpoints")]
mod extractors;
mod objects;

#[cfg(feature = "endpoints")]
pub use extractors::NamedParameters;
use objects::ObjectsOnly;

/// A JSON request body, parsed strictly, with errors that name the field.
pub struct JsonBody<T> {
    inner: Result<T, ApiError>,
    started: Instant,
    elapsed: Duration,
}

impl<T> JsonBody<T> {
    /// The parsed body, or the validation error to answer with.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.inner
    }

    /// When reading the body began: the earliest moment the handler can
    /// know of, used as the request's arrival.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// How long reading and parsing the body took.
    pub fn parse_duration(&self) -> Duration {
        self.elapsed
    }
}

impl<T> From<T> for JsonBody<T> {
    fn from(value: T) -> JsonBody<T> {
        JsonBody { inner: Ok(value), started: Instant::now(), elapsed: Duration::ZERO }
    }
}

/// A JSON body kept as bytes, for protocols that answer malformed input in
/// their own terms (JSON-RPC). The schema documented is `T`'s.
pub struct RawJsonBody<T> {
    inner: Result<Vec<u8>, ApiError>,
    started: Instant,
    _schema: std::marker::PhantomData<fn() -> T>,
}

impl<T> RawJsonBody<T> {
    /// The body's bytes, or the transport-level error (size, content type).
    pub fn into_inner(self) -> Result<Vec<u8>, ApiError> {
        self.inner
    }

    /// When reading the body began.
    pub fn started(&self) -> Instant {
        self.started
    }
}

/// Parses `bytes` as JSON into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(ErrorCode::MalformedJson, "request body is empty").at_path("$"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(ObjectsOnly(&mut de)).map_err(|error| {
        // Deserialising as it reads, serde meets a wrong type before a
        // syntax error further on: a body that is not JSON is told so first.
        if error.inner().classify() == serde_json::error::Category::Data
            && let Err(syntax) = check_syntax(bytes)
        {
            return syntax;
        }
        json_error(error)
    })?;
    de.end().map_err(trailing_characters)?;
    Ok(value)
}

/// Whether `bytes` is one well-formed JSON value, whatever its shape.
fn check_syntax(bytes: &[u8]) -> Result<(), ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, serde::de::IgnoredAny>(&mut de).map_err(json_error)?;
    de.end().map_err(trailing_characters)
}

fn trailing_characters(error: serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::MalformedJson,
        format!(
            "malformed json at line {} column {}: trailing characters after the JSON value",
            error.line(),
            error.column()
        ),
    )
    .at_path("$")
}

/// Converts an already-parsed JSON value into `T`, naming the offending field.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(ObjectsOnly(value)).map_err(json_error)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = json_path(error.path());
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => ApiError::new(
            ErrorCode::MalformedJson,
            format!(
                "malformed json at line {} column {}: {}",
                inner.line(),
                inner.column(),
                strip_position(&inner)
            ),
        )
        .at_path(path),
        serde_json::error::Category::Io => {
            ApiError::new(ErrorCode::InvalidRequest, strip_position(&inner)).at_path(path)
        }
        serde_json::error::Category::Data => data_error(path, strip_position(&inner)),
    }
}

/// Classifies a serde data error message and points the path at the field.
fn data_error(path: String, message: String) -> ApiError {
    if let Some(field) = backticked_after(&message, "missing field ") {
        let at = child_path(&path, &field);
        ApiError::new(ErrorCode::MissingField, format!("missing field `{field}`")).at_path(at)
    } else if message.starts_with("unknown field ") {
        // The path already ends at the unknown key.
        ApiError::new(ErrorCode::UnknownField, message).at_path(path)
    } else {
        ApiError::new(ErrorCode::InvalidField, message).at_path(path)
    }
}

fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).map(str::to_string).unwrap_or(text)
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn child_path(parent: &str, key: &str) -> String {
    let mut out = parent.to_string();
    push_key(&mut out, key);
    out
}

fn push_key(out: &mut String, key: &str) {
    if is_identifier(key) {
        out.push('.');
        out.push_str(key);
    } else {
        out.push_str("['");
        out.push_str(&key.replace('\\', "\\\\").replace('\'', "\\'"));
        out.push_str("']");
    }
}

/// Renders a serde path as JSONPath: `$`, `$.a.b`, `$.items[3].c`. Where
/// serde cannot tell the next step (a syntax error between two members,
/// say), the path ends at the deepest value it knows: the one holding the
/// error.
pub fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => break,
        }
    }
    out
}

/// Re-roots a body JSONPath (`$.x`) under `prefix` (`$.items[2]` → `$.items[2].x`).
pub fn reroot_path(prefix: &str, path: &str) -> String {
    match path.strip_prefix('$') {
        Some(rest) => format!("{prefix}{rest}"),
        None => format!("{prefix}.{path}"),
    }
}

/// An element of a JSON array that is validated on its own, so one bad
/// element does not fail the whole request. The schema is `T`'s.
pub struct Lenient<T> {
    inner: Result<T, ApiError>,
}

impl<T> Lenient<T> {
    /// The parsed element, or its validation error (paths relative to `$`,
    /// the element itself).
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.inner
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Lenient<T>, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Lenient { inner: parse_value(value) })
    }
}

impl<T: JsonSchema> JsonSchema for Lenient<T> {
    fn schema_name() -> String {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn is_referenceable() -> bool {
        T::is_referenceable()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        T::json_schema(generator)
    }
}

/// Query parameters, parsed strictly (unknown parameters are rejected).
pub struct QueryParams<T> {
    inner: Result<T, ApiError>,
}

impl<T> QueryParams<T> {
    /// The parsed parameters, or the error naming the bad parameter.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.inner
    }
}

/// Parses a raw query string into `T`, naming the offending parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|error| {
        let named = error.path().iter().next().map(|s| s.to_string());
        let message = error.into_inner().to_string();
        let parameter = named
            .or_else(|| backticked_after(&message, "missing field "))
            .or_else(|| backticked_after(&message, "unknown field "));
        let code = ErrorCode::InvalidParameter;
        let message = match &parameter {
            Some(p) if !message.contains('`') => format!("invalid value for `{p}`: {message}"),
            _ => message,
        };
        let e = ApiError::new(code, message);
        match parameter {
            Some(p) => e.at_parameter(p),
            None => e,
        }
    })
}

/// Wraps one of dropshot's shared extractors (`Path`, `Header`) so its
/// failure reaches the handler instead of short-circuiting it.
pub struct Checked<E> {
    inner: Result<E, ApiError>,
}

impl<E> Checked<E> {
    /// The extracted value, or the error naming the bad parameter.
    pub fn into_inner(self) -> Result<E, ApiError> {
        self.inner
    }
}

impl<E> From<E> for Checked<E> {
    fn from(value: E) -> Checked<E> {
        Checked { inner: Ok(value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        kind: Kind,
        count: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Small,
    }

    fn err(body: &str) -> ApiError {
        match parse_json::<Outer>(body.as_bytes()) {
            Ok(v) => panic!("expected an error, parsed {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn an_array_is_no_object_at_any_depth() {
        for (body, path) in [
            (r#"[{"kind": "small"}]"#, "$"),
            (r#"{"inner": ["small", 3]}"#, "$.inner"),
            (r#"{"inner": {"kind": "small"}, "items": [["small"]]}"#, "$.items[0]"),
        ] {
            let e = err(body);
            assert_eq!(e.error_code, "invalid_field", "{body}: {e:?}");
            assert_eq!(e.path.as_deref(), Some(path), "{body}");
            assert!(e.message.contains("expected an object"), "{}", e.message);
        }
        let value: Result<Outer, _> = parse_value(serde_json::json!({"inner": ["small", 3]}));
        assert_eq!(value.err().and_then(|e| e.path), Some("$.inner".to_string()));
        // Free-form JSON still holds arrays, and objects still parse.
        let free: serde_json::Value = parse_json(br#"{"a": [1, [2]]}"#).unwrap_or_default();
        assert_eq!(free["a"][1][0], 2);
        assert!(parse_json::<Outer>(br#"{"inner": {"kind": "small", "count": 2}}"#).is_ok());
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let e = err(r#"{"inner": {}}"#);
        assert_eq!(e.error_code, "missing_field");
        assert_eq!(e.path.as_deref(), Some("$.inner.kind"));
    }

    #[test]
    fn unknown_field_points_at_the_field() {
        let e = err(r#"{"inner": {"kind": "small", "bogus-key": 1}}"#);
        assert_eq!(e.error_code, "unknown_field");
        assert_eq!(e.path.as_deref(), Some("$.inner['bogus-key']"));
    }

    #[test]
    fn wrong_value_inside_an_array_names_the_index() {
        let e = err(r#"{"inner": {"kind": "small"}, "items": [{"kind": "small"}, {"kind": "huge"}]}"#);
        assert_eq!(e.error_code, "invalid_field");
        assert_eq!(e.path.as_deref(), Some("$.items[1].kind"));
        assert!(e.message.contains("`huge`"), "{}", e.message);
    }

    #[test]
    fn wrong_type_is_invalid_field() {
        let e = err(r#"{"inner": {"kind": "small", "count": "three"}}"#);
        assert_eq!(e.error_code, "invalid_field");
        assert_eq!(e.path.as_deref(), Some("$.inner.count"));
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert_eq!(err(r#"{"inner": "#).error_code, "malformed_json");
        assert_eq!(err("").error_code, "malformed_json");
        assert_eq!(err(r#"{"inner": {"kind": "small"}} x"#).error_code, "malformed_json");
    }

    #[test]
    fn syntax_errors_name_the_place_never_an_unknown_step() {
        // Between two members: the object holding them, and where.
        let e = err(r#"{"inner": {"kind": "small" "count": 1}}"#);
        assert_eq!((e.error_code.as_str(), e.path.as_deref()), ("malformed_json", Some("$.inner")));
        assert!(
            e.message.starts_with("malformed json at line 1 column 28: expected `,` or `}`"),
            "{}",
            e.message
        );
        let e = err("{");
        assert_eq!((e.error_code.as_str(), e.path.as_deref()), ("malformed_json", Some("$")));
        let e = err(r#"{"inner": {"kind": "small"},}"#);
        assert_eq!(
            (e.path.as_deref(), e.message.contains("trailing comma")),
            (Some("$"), true),
            "{}",
            e.message
        );
        // A value cut short: the member it belongs to.
        let e = err(r#"{"inner": {"kind": }}"#);
        assert_eq!((e.error_code.as_str(), e.path.as_deref()), ("malformed_json", Some("$.inner.kind")));
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed_before_any_field_is_wrong() {
        // The first member is of the wrong type, and the body is truncated.
        let e = err(r#"{"inner": 1, "items": ["#);
        assert_eq!(e.error_code, "malformed_json", "{e}");
        assert!(e.message.contains("EOF while parsing"), "{}", e.message);
        let e = err(r#"{"bogus": 1}}"#);
        assert_eq!((e.error_code.as_str(), e.path.as_deref()), ("malformed_json", Some("$")));
        assert!(e.message.contains("trailing characters"), "{}", e.message);
        // Well-formed JSON of the wrong shape is still about the field.
        assert_eq!(err(r#"{"inner": 1}"#).error_code, "invalid_field");
    }

    #[test]
    fn lenient_elements_fail_alone() {
        #[derive(Deserialize)]
        struct Batch {
            items: Vec<Lenient<Inner>>,
        }
        let batch: Batch =
            parse_json(br#"{"items": [{"kind": "small"}, {"kind": 3}]}"#).unwrap_or_else(|e| panic!("{e}"));
        let results: Vec<_> = batch.items.into_iter().map(Lenient::into_inner).collect();
        assert!(results[0].is_ok());
        let e = results[1].as_ref().err().cloned().unwrap_or_else(|| panic!("second must fail"));
        assert_eq!(reroot_path("$.items[1]", e.path.as_deref().unwrap_or("")), "$.items[1].kind");
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<u32>,
        }
        let e = parse_query::<Q>("limit=abc").err().unwrap_or_else(|| panic!("must fail"));
        assert_eq!(e.error_code, "invalid_parameter");
        assert_eq!(e.parameter.as_deref(), Some("limit"));
        let e = parse_query::<Q>("limt=3").err().unwrap_or_else(|| panic!("must fail"));
        assert_eq!(e.parameter.as_deref(), Some("limt"));
        assert!(parse_query::<Q>("limit=3").is_ok());
    }
}
