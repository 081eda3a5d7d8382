//! The HTTP headers of MCP's Streamable HTTP transport: their names, the
//! `=?base64?…?=` encoding of values that are not plain ASCII, session id
//! syntax, and the `x-mcp-header` tool-parameter annotations that a modern
//! (2026-07-28) client mirrors into `Mcp-Param-{Name}` headers.
//!
//! Both sides of the gateway use these rules: the upstream client to write
//! headers, the `/v1/mcp` front door to read and check them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// The negotiated protocol version (legacy: after `initialize`; modern:
/// every request).
pub(crate) const PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// The legacy session id, issued on the `initialize` response.
pub(crate) const SESSION_ID: &str = "mcp-session-id";
/// Modern era: mirrors the body's `method`.
pub const METHOD: &str = "mcp-method";
/// Modern era: mirrors `params.name` (or `params.uri`) of `tools/call`,
/// `prompts/get` and `resources/read`.
pub const NAME: &str = "mcp-name";
/// Modern era: prefix of the headers mirroring annotated tool arguments.
pub(crate) const PARAM_PREFIX: &str = "mcp-param-";
/// Legacy era: resumes an SSE stream after the given event id.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// Encodes a value for `Mcp-Name` or `Mcp-Param-{Name}`: plain if it is
/// printable ASCII without leading or trailing spaces and does not look like
/// the sentinel itself, `=?base64?{Base64(UTF-8)}?=` otherwise.
pub(crate) fn encode_value(value: &str) -> String {
    let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let padded = value.starts_with(' ') || value.ends_with(' ');
    let sentinel = value.starts_with(SENTINEL_PREFIX) && value.ends_with(SENTINEL_SUFFIX);
    let plain = printable && !padded && !sentinel;
    if plain {
        value.to_string()
    } else {
        format!("{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}", STANDARD.encode(value))
    }
}

/// Decodes a header value written by [`encode_value`]; `None` when the
/// sentinel is present but its content is not Base64 of UTF-8.
pub(crate) fn decode_value(value: &str) -> Option<String> {
    let Some(encoded) =
        value.strip_prefix(SENTINEL_PREFIX).and_then(|rest| rest.strip_suffix(SENTINEL_SUFFIX))
    else {
        return Some(value.to_string());
    };
    let bytes = STANDARD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether `id` is a valid session id: non-empty visible ASCII
/// (0x21–0x7E), as 2025-06-18 and 2025-11-25 require.
pub(crate) fn is_valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A tool argument the server wants mirrored into an `Mcp-Param-{Name}`
/// header (an `x-mcp-header` annotation in the tool's `inputSchema`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParamHeader {
    /// The annotation's value, the `{Name}` of the header.
    pub name: String,
    /// The chain of `properties` keys from the schema root to the argument.
    pub path: Vec<String>,
}

impl ParamHeader {
    /// The header name, `mcp-param-{name}` in lowercase.
    pub(crate) fn header_name(&self) -> String {
        format!("{PARAM_PREFIX}{}", self.name.to_ascii_lowercase())
    }

    /// The encoded header value for these call arguments; `None` when the
    /// argument is absent, `null`, or not a string, integer or boolean.
    pub(crate) fn value(&self, arguments: &Map<String, Value>) -> Option<String> {
        let (last, parents) = self.path.split_last()?;
        let mut object = arguments;
        for key in parents {
            object = object.get(key)?.as_object()?;
        }
        let text = match object.get(last)? {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    // An integer written as `42.0` is still an integer.
                    let f = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER)?;
                    format!("{f:.0}")
                }
            }
            _ => return None,
        };
        Some(encode_value(&text))
    }
}

/// 2^53 - 1, the largest integer an `x-mcp-header` argument may carry.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Collects the `x-mcp-header` annotations of a tool's `inputSchema` and
/// checks them (2026-07-28): each value is a non-empty HTTP token, unique
/// case-insensitively; it annotates a `string`, `integer` or `boolean`
/// property reachable from the root through `properties` keys only. Any
/// violation makes the whole tool invalid; the error says why.
pub(crate) fn param_headers(input_schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut found = Vec::new();
    walk(input_schema, Some(&[]), &mut found)?;
    let mut seen = std::collections::HashSet::new();
    for header in &found {
        if !seen.insert(header.name.to_ascii_lowercase()) {
            return Err(format!("`x-mcp-header` value `{}` is used twice", header.name));
        }
    }
    Ok(found)
}

/// Walks a schema. `path` is `Some` while the position is statically
/// reachable from the root through `properties` keys.
fn walk(schema: &Value, path: Option<&[String]>, found: &mut Vec<ParamHeader>) -> Result<(), String> {
    let object = match schema {
        Value::Object(object) => object,
        Value::Array(items) => {
            return items.iter().try_for_each(|item| walk(item, None, found));
        }
        _ => return Ok(()),
    };
    if let Some(annotation) = object.get("x-mcp-header") {
        let path = path.filter(|p| !p.is_empty()).ok_or_else(|| {
            "`x-mcp-header` must annotate a property reachable through `properties` only".to_string()
        })?;
        found.push(checked_annotation(annotation, object, path)?);
    }
    for (key, child) in object {
        match key.as_str() {
            "properties" => {
                if let Value::Object(properties) = child {
                    for (name, property) in properties {
                        let nested = path.map(|p| [p, std::slice::from_ref(name)].concat());
                        walk(property, nested.as_deref(), found)?;
                    }
                }
            }
            "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                if let Value::Object(schemas) = child {
                    schemas.values().try_for_each(|schema| walk(schema, None, found))?;
                }
            }
            // Instance data, not schemas.
            "x-mcp-header" | "enum" | "const" | "default" | "examples" | "required" => {}
            _ => walk(child, None, found)?,
        }
    }
    Ok(())
}

fn checked_annotation(
    annotation: &Value,
    property: &Map<String, Value>,
    path: &[String],
) -> Result<ParamHeader, String> {
    let name = annotation.as_str().ok_or("`x-mcp-header` must be a string")?;
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("`x-mcp-header` value `{name}` is not an http token"));
    }
    let primitive = |t: &Value| matches!(t.as_str(), Some("string" | "integer" | "boolean"));
    let typed = match property.get("type") {
        Some(t @ Value::String(_)) => primitive(t),
        Some(Value::Array(types)) => {
            let mut non_null = types.iter().filter(|t| t.as_str() != Some("null"));
            matches!((non_null.next(), non_null.next()), (Some(t), None) if primitive(t))
        }
        _ => false,
    };
    if !typed {
        return Err(format!(
            "`x-mcp-header` `{name}` annotates `{}`, which is not a string, integer or boolean",
            path.join(".")
        ));
    }
    Ok(ParamHeader { name: name.to_string(), path: path.to_vec() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_encoded_as_the_spec_examples_show() {
        assert_eq!(encode_value("us-west1"), "us-west1");
        assert_eq!(encode_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(encode_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(encode_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
        assert_eq!(encode_value("=?base64?literal?="), "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
        for value in ["us-west1", "Hello, 世界", " padded ", "=?base64?literal?=", ""] {
            assert_eq!(decode_value(&encode_value(value)).as_deref(), Some(value));
        }
        assert_eq!(decode_value("=?base64?%%%?="), None);
    }

    #[test]
    fn session_ids_are_visible_ascii() {
        assert!(is_valid_session_id("a1-B2_c3"));
        assert!(!is_valid_session_id(""));
        assert!(!is_valid_session_id("has space"));
        assert!(!is_valid_session_id("é"));
    }

    #[test]
    fn annotated_arguments_become_param_headers() {
        let schema = json!({"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "target":{"type":"object","properties":{"shard":{"type":"integer","x-mcp-header":"Shard"}}},
            "dry":{"type":["boolean","null"],"x-mcp-header":"Dry-Run"},
            "query":{"type":"string"}}});
        let mut headers = param_headers(&schema).unwrap();
        headers.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            headers.iter().map(|h| h.header_name()).collect::<Vec<_>>(),
            ["mcp-param-dry-run", "mcp-param-region", "mcp-param-shard"]
        );
        let args = json!({"region":"eu 1 ","target":{"shard":42.0},"dry":null}).as_object().cloned().unwrap();
        let values: Vec<_> = headers.iter().map(|h| h.value(&args)).collect();
        assert_eq!(values, [None, Some("=?base64?ZXUgMSA=?=".into()), Some("42".into())]);
    }

    #[test]
    fn misplaced_or_malformed_annotations_invalidate_the_tool() {
        for bad in [
            json!({"type":"object","properties":{"n":{"type":"number","x-mcp-header":"N"}}}),
            json!({"type":"object","properties":{"n":{"type":"string","x-mcp-header":"bad name"}}}),
            json!({"type":"object","properties":{"a":{"type":"string","x-mcp-header":"X"},
                                                 "b":{"type":"string","x-mcp-header":"x"}}}),
            json!({"type":"object","properties":{"l":{"type":"array","items":{"type":"string","x-mcp-header":"L"}}}}),
            json!({"type":"object","anyOf":[{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}]}),
            json!({"type":"object","x-mcp-header":"Root"}),
        ] {
            assert!(param_headers(&bad).is_err(), "{bad}");
        }
        let named_like_the_keyword = json!({"type":"object","properties":{"x-mcp-header":{"type":"string"}}});
        assert_eq!(param_headers(&named_like_the_keyword).unwrap(), []);
    }
}
