//! SCIM filters (RFC 7644, 3.4.2.2), matched against a resource's JSON.
//!
//! Filters and PATCH paths are parsed by the `scim_v2` crate (its
//! `filter` feature: the whole grammar, with its own limits on nesting
//! and terms); this module evaluates what it parsed. Strings compare
//! without regard to case, but for `id` and `externalId` (`caseExact` in
//! RFC 7643); timestamps in RFC 3339 order as their text does. Entra ID's
//! `emails[type eq "work"].value eq "x"`, outside the grammar, is read as
//! the `emails[type eq "work" and value eq "x"]` it means. PATCH uses the
//! equalities of a value filter (`type eq "work"`) for the value it adds
//! when none matches.

use scim_v2::filter as parsed;
use serde_json::Value;

/// The longest filter accepted.
const MAX_LEN: usize = 4096;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

/// A filter, ready to match.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare(Vec<String>, CompareOp, Value),
    /// `path pr`.
    Present(Vec<String>),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Not.
    Not(Box<Filter>),
    /// `path[filter]`: some value of `path` matches `filter`.
    ValuePath(Vec<String>, Box<Filter>),
}

/// A comparison operator (opaque).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompareOp(Compare);

/// An attribute path as lowercase segments: an extension's URN first,
/// then the attribute and its sub-attribute (the core schemas' URNs are
/// dropped: their attributes are the resource's own).
pub fn segments(path: &parsed::AttrPath) -> Vec<String> {
    let mut segments = Vec::new();
    if let Some(uri) = &path.uri {
        let uri = uri.to_ascii_lowercase();
        if !uri.starts_with("urn:ietf:params:scim:schemas:core:") {
            segments.push(uri);
        }
    }
    segments.push(path.name.to_ascii_lowercase());
    segments.extend(path.sub_attr.as_deref().map(str::to_ascii_lowercase));
    segments
}

fn operator(op: &parsed::CompareOp) -> Compare {
    match op {
        parsed::CompareOp::Eq => Compare::Eq,
        parsed::CompareOp::Ne => Compare::Ne,
        parsed::CompareOp::Co => Compare::Co,
        parsed::CompareOp::Sw => Compare::Sw,
        parsed::CompareOp::Ew => Compare::Ew,
        parsed::CompareOp::Gt => Compare::Gt,
        parsed::CompareOp::Lt => Compare::Lt,
        parsed::CompareOp::Ge => Compare::Ge,
        parsed::CompareOp::Le => Compare::Le,
    }
}

fn value(value: &parsed::CompValue) -> Value {
    match value {
        parsed::CompValue::False => Value::Bool(false),
        parsed::CompValue::True => Value::Bool(true),
        parsed::CompValue::Null => Value::Null,
        parsed::CompValue::Number(n) => Value::Number(n.clone()),
        parsed::CompValue::Str(s) => Value::String(s.clone()),
    }
}

fn expression(exp: &parsed::AttrExp) -> Filter {
    match exp {
        parsed::AttrExp::Present(path) => Filter::Present(segments(path)),
        parsed::AttrExp::Comparison(path, op, compared) => {
            Filter::Compare(segments(path), CompareOp(operator(op)), value(compared))
        }
    }
}

fn joined(items: Vec<Filter>, join: fn(Box<Filter>, Box<Filter>) -> Filter) -> Filter {
    let mut items = items.into_iter();
    let first = items.next().unwrap_or(Filter::Present(Vec::new()));
    items.fold(first, |left, right| join(Box::new(left), Box::new(right)))
}

/// A value filter (inside brackets) as a filter on one value.
pub fn from_value_filter(filter: &parsed::ValFilter) -> Filter {
    match filter {
        parsed::ValFilter::Attr(exp) => expression(exp),
        parsed::ValFilter::Not(inner) => Filter::Not(Box::new(from_value_filter(inner))),
        parsed::ValFilter::And(items) => {
            joined(items.as_slice().iter().map(from_value_filter).collect(), Filter::And)
        }
        parsed::ValFilter::Or(items) => {
            joined(items.as_slice().iter().map(from_value_filter).collect(), Filter::Or)
        }
    }
}

fn from_filter(filter: &parsed::Filter) -> Filter {
    match filter {
        parsed::Filter::Attr(exp) => expression(exp),
        parsed::Filter::ValuePath(path) => {
            Filter::ValuePath(segments(&path.attr), Box::new(from_value_filter(&path.filter)))
        }
        parsed::Filter::Not(inner) => Filter::Not(Box::new(from_filter(inner))),
        parsed::Filter::And(items) => joined(items.as_slice().iter().map(from_filter).collect(), Filter::And),
        parsed::Filter::Or(items) => joined(items.as_slice().iter().map(from_filter).collect(), Filter::Or),
    }
}

/// Entra ID's `attr[filter].sub op value` as the RFC's
/// `attr[filter and sub op value]` (the rest unchanged).
fn entra_form(text: &str) -> Option<String> {
    let text = text.trim();
    let open = text.find('[')?;
    let close = text.find(']')?;
    let rest = text.get(close + 1..)?.strip_prefix('.')?;
    let (sub, comparison) = rest.split_once(' ')?;
    let valid = !sub.is_empty() && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if close < open || !valid || text[open + 1..close].contains('[') {
        return None;
    }
    Some(format!("{}[({}) and {sub} {}]", &text[..open], &text[open + 1..close], comparison.trim()))
}

impl Filter {
    /// Parses a filter.
    pub fn parse(text: &str) -> Result<Filter, String> {
        if text.len() > MAX_LEN {
            return Err(format!("a filter has at most {MAX_LEN} characters"));
        }
        let parsed = match text.parse::<parsed::Filter>() {
            Ok(parsed) => parsed,
            Err(error) => match entra_form(text).map(|t| t.parse::<parsed::Filter>()) {
                Some(Ok(parsed)) => parsed,
                _ => return Err(format!("the filter is not understood: {error}")),
            },
        };
        Ok(from_filter(&parsed))
    }

    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
            Filter::Present(path) => values(resource, path).iter().any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            }),
            Filter::Compare(path, CompareOp(op), wanted) => {
                let exact = path.last().is_some_and(|a| a == "id" || a == "externalid");
                let found = values(resource, path);
                match (op, wanted) {
                    // `eq null`: absent; `ne null`: present.
                    (Compare::Eq, Value::Null) => found.iter().all(|v| v.is_null()),
                    (Compare::Ne, Value::Null) => found.iter().any(|v| !v.is_null()),
                    (Compare::Ne, _) => !found.iter().any(|v| compare(Compare::Eq, v, wanted, exact)),
                    _ => found.iter().any(|v| compare(*op, v, wanted, exact)),
                }
            }
            Filter::ValuePath(path, inner) => elements(resource, path).iter().any(|v| inner.matches(v)),
        }
    }

    /// The string a filter that is only `attribute eq "…"` compares
    /// `attribute` (lowercase) with.
    pub fn single_equality(&self, attribute: &str) -> Option<&str> {
        match self {
            Filter::Compare(path, CompareOp(Compare::Eq), Value::String(value))
                if path.len() == 1 && path[0] == attribute =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// The `attribute eq value` comparisons a filter is made of (when it
    /// is only those, joined by `and`).
    pub fn equalities(&self) -> Vec<(String, Value)> {
        match self {
            Filter::Compare(path, CompareOp(Compare::Eq), value) if path.len() == 1 => {
                vec![(path[0].clone(), value.clone())]
            }
            Filter::And(a, b) => a.equalities().into_iter().chain(b.equalities()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The values at `path` (attribute names in lowercase) in `value`: every
/// element's, through multi-valued attributes.
fn elements<'a>(value: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
    };
    match value {
        Value::Object(map) => match map.iter().find(|(k, _)| k.eq_ignore_ascii_case(first)) {
            Some((_, child)) => elements(child, rest),
            None => Vec::new(),
        },
        Value::Array(items) => items.iter().flat_map(|item| elements(item, path)).collect(),
        _ => Vec::new(),
    }
}

/// The values a comparison on `path` looks at: a multi-valued complex
/// attribute compared directly (`emails co "x"`) is compared by its
/// elements' `value`.
fn values<'a>(value: &'a Value, path: &[String]) -> Vec<&'a Value> {
    elements(value, path)
        .into_iter()
        .flat_map(|v| match v {
            Value::Object(o) if o.contains_key("value") => o.get("value").into_iter().collect(),
            other => vec![other],
        })
        .collect()
}

fn compare(op: Compare, found: &Value, wanted: &Value, exact: bool) -> bool {
    match (found, wanted) {
        (Value::String(found), Value::String(wanted)) => {
            let (found, wanted) = if exact {
                (found.clone(), wanted.clone())
            } else {
                (found.to_lowercase(), wanted.to_lowercase())
            };
            match op {
                Compare::Eq => found == wanted,
                Compare::Ne => found != wanted,
                Compare::Co => found.contains(&wanted),
                Compare::Sw => found.starts_with(&wanted),
                Compare::Ew => found.ends_with(&wanted),
                Compare::Gt => found > wanted,
                Compare::Lt => found < wanted,
                Compare::Ge => found >= wanted,
                Compare::Le => found <= wanted,
            }
        }
        (Value::Number(found), Value::Number(wanted)) => {
            let (Some(found), Some(wanted)) = (found.as_f64(), wanted.as_f64()) else { return false };
            match op {
                Compare::Eq => found == wanted,
                Compare::Ne => found != wanted,
                Compare::Gt => found > wanted,
                Compare::Lt => found < wanted,
                Compare::Ge => found >= wanted,
                Compare::Le => found <= wanted,
                Compare::Co | Compare::Sw | Compare::Ew => false,
            }
        }
        (Value::Bool(found), Value::Bool(wanted)) => match op {
            Compare::Eq => found == wanted,
            Compare::Ne => found != wanted,
            _ => false,
        },
        // Some providers send booleans as strings.
        (Value::String(found), Value::Bool(wanted)) => {
            let parsed = found.eq_ignore_ascii_case("true");
            found.eq_ignore_ascii_case(if *wanted { "true" } else { "false" }) && op == Compare::Eq
                || (op == Compare::Ne && parsed != *wanted)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alice() -> Value {
        json!({
            "id": "usr_1",
            "externalId": "AbC",
            "userName": "Alice@Example.com",
            "active": true,
            "name": {"givenName": "Alice", "familyName": "Anders"},
            "emails": [
                {"value": "alice@work.example", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"},
            "meta": {"lastModified": "2026-01-02T03:04:05.000Z"},
        })
    }

    fn matches(filter: &str) -> bool {
        Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(&alice())
    }

    #[test]
    fn the_rfc_examples_match() {
        assert!(matches(r#"userName eq "alice@example.com""#));
        assert!(matches(r#"USERNAME Eq "ALICE@EXAMPLE.COM""#));
        assert!(!matches(r#"externalId eq "abc""#), "externalId is case-exact");
        assert!(matches(r#"externalId eq "AbC""#));
        assert!(matches(r#"name.familyName co "nder""#));
        assert!(matches(r#"userName sw "ali""#));
        assert!(matches(r#"emails[type eq "work" and value co "@work."]"#));
        assert!(!matches(r#"emails[type eq "work" and value co "@home."]"#));
        assert!(matches(r#"emails co "home.example""#));
        assert!(matches("title pr or active eq true"));
        assert!(!matches("title pr"));
        assert!(matches(r#"not (userName eq "bob")"#));
        assert!(matches(r#"meta.lastModified gt "2025-12-31T00:00:00Z""#));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(matches(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName ew ".com""#));
        assert!(matches(r#"userName eq "x" or (active eq true and name.givenName eq "alice")"#));
        assert!(matches("title eq null"));
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in [
            r#"userName eq"#,
            r#"userName zz "x""#,
            r#"(userName eq "x""#,
            r#"userName eq x"#,
            "",
            "a eq \"x\" b",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}userName eq \"x\"{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).is_err());
        let long = vec!["userName eq \"x\""; 2000].join(" or ");
        assert!(Filter::parse(&long).is_err());
    }

    #[test]
    fn entras_value_path_form_is_read() {
        assert!(matches(r#"emails[type eq "work"].value eq "alice@work.example""#));
        assert!(!matches(r#"emails[type eq "home"].value eq "alice@work.example""#));
    }

    #[test]
    fn equalities_make_a_value() {
        let filter = Filter::parse(r#"type eq "work" and primary eq true"#).expect("parsed");
        assert_eq!(
            filter.equalities(),
            vec![("type".to_string(), json!("work")), ("primary".to_string(), json!(true))]
        );
    }
}
