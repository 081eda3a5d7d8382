//! Typed identifiers. Each is a validated string on the wire; inside Rust
//! they cannot be confused with one another or with free text.

use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// The kind of identifier (`tenant id`, `agent id`, …).
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for InvalidId {}

/// Checks `value` against a simple character-class grammar:
/// length `1..=max`, first character from `first`, the rest from `rest`.
pub(crate) fn check(
    kind: &'static str,
    value: &str,
    max: usize,
    first: fn(char) -> bool,
    rest: fn(char) -> bool,
    grammar: &str,
) -> Result<(), InvalidId> {
    let fail = |reason: String| Err(InvalidId { kind, reason });
    if value.is_empty() {
        return fail("must not be empty".into());
    }
    if value.len() > max {
        return fail(format!("must be at most {max} characters"));
    }
    let mut chars = value.chars();
    let ok = chars.next().is_some_and(first) && chars.all(rest);
    if !ok {
        return fail(format!("`{value}` must match {grammar}"));
    }
    Ok(())
}

/// Declares a validated string type (see the types below for examples).
macro_rules! id_type {
    (
        $(#[$doc:meta])*
        $name:ident, kind = $kind:literal, max = $max:literal, pattern = $pattern:literal,
        first = $first:expr, rest = $rest:expr
    ) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(
            #[schemars(length(min = 1, max = $max), regex(pattern = $pattern))] String,
        );

        impl $name {
            /// The grammar, as a regular expression.
            pub const PATTERN: &'static str = $pattern;

            /// Validates and wraps `value`.
            pub fn parse(value: impl Into<String>) -> Result<$name, $crate::ids::InvalidId> {
                let value = value.into();
                $crate::ids::check($kind, &value, $max, $first, $rest, $pattern)?;
                Ok($name(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ids::InvalidId;
            fn try_from(value: String) -> Result<$name, $crate::ids::InvalidId> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ids::InvalidId;
            fn from_str(s: &str) -> Result<$name, $crate::ids::InvalidId> {
                $name::parse(s)
            }
        }
    };
}

pub(crate) use id_type;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn slug_char(c: char) -> bool {
    lower_alnum(c) || c == '-'
}

fn agent_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-')
}

fn generated_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

id_type!(
    /// A tenant: lowercase letters, digits and `-`, starting with a letter or digit.
    TenantId, kind = "tenant id", max = 63, pattern = "^[a-z0-9][a-z0-9-]{0,62}$",
    first = lower_alnum, rest = slug_char
);

id_type!(
    /// An agent, unique within its tenant: letters, digits and `. _ : @ -`.
    AgentId, kind = "agent id", max = 128, pattern = "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
    first = |c: char| c.is_ascii_alphanumeric(), rest = agent_char
);

id_type!(
    /// An intent, assigned by the gateway (`int_…`).
    IntentId, kind = "intent id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// An API key, assigned by the gateway (`key_…`).
    ApiKeyId, kind = "api key id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// An approval request, assigned by the gateway (`apr_…`).
    ApprovalId, kind = "approval id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// An audit log entry, assigned by the gateway (`aud_…`).
    AuditEntryId, kind = "audit entry id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// A policy draft, assigned by the gateway (`pol_…`).
    PolicyDraftId, kind = "policy draft id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// A policy promotion proposal, assigned by the gateway (`prp_…`).
    PolicyProposalId, kind = "policy proposal id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

id_type!(
    /// A discovered agent, assigned by the gateway (`dag_…`): the same
    /// identity using the same AI service always has the same id.
    DiscoveredAgentId, kind = "discovered agent id", max = 64, pattern = "^[A-Za-z0-9_]{1,64}$",
    first = generated_char, rest = generated_char
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("acme-1").is_ok());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("-acme").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("a".repeat(64)).is_err());
        assert!(TenantId::parse("a".repeat(63)).is_ok());
    }

    #[test]
    fn agent_ids_allow_common_separators() {
        assert!(AgentId::parse("billing-bot@v2.1:prod_a").is_ok());
        assert!(AgentId::parse("has space").is_err());
        assert!(AgentId::parse(".hidden").is_err());
    }

    #[test]
    fn deserialization_validates() {
        let ok: Result<TenantId, _> = serde_json::from_str("\"acme\"");
        assert!(ok.is_ok());
        let bad: Result<TenantId, _> = serde_json::from_str("\"ACME\"");
        let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("invalid tenant id"), "{message}");
    }
}
