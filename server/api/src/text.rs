//! Validated free text: names, owners, descriptions.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// Why a text value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidText(pub String);

impl fmt::Display for InvalidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidText {}

fn check_text(value: &str, max: usize, allow_newlines: bool) -> Result<(), InvalidText> {
    if value.trim().is_empty() {
        return Err(InvalidText("must not be blank".into()));
    }
    if value.chars().count() > max {
        return Err(InvalidText(format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t'))) {
        return Err(InvalidText("must not contain control characters".into()));
    }
    Ok(())
}

/// The schema's statement of [`check_text`] without newlines: no control
/// character (Unicode `Cc`, as `char::is_control`), and at least one that
/// is not white space.
const ONE_LINE: &str =
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// The same, allowing newlines and tabs.
const MULTI_LINE: &str = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$";

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, max = $max:literal, newlines = $newlines:literal, pattern = $pattern:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(#[schemars(length(min = 1, max = $max), regex(path = $pattern))] String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn parse(value: impl Into<String>) -> Result<$name, InvalidText> {
                let value = value.into();
                check_text(&value, $max, $newlines)?;
                Ok($name(value))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidText;
            fn try_from(value: String) -> Result<$name, InvalidText> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A short human-readable name (1–200 characters, no control characters).
    Label, max = 200, newlines = false, pattern = "ONE_LINE"
);

text_type!(
    /// An identifier chosen by the caller, such as an address or a URL
    /// (1–1024 characters, no control characters).
    Identifier, max = 1024, newlines = false, pattern = "ONE_LINE"
);

text_type!(
    /// A longer description (1–2000 characters; newlines and tabs allowed).
    Description, max = 2000, newlines = true, pattern = "MULTI_LINE"
);

/// Deserializes a field that distinguishes "absent" (`None`) from "null"
/// (`Some(None)`), for PATCH bodies where `null` clears a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_reject_blank_and_control_characters() {
        assert!(Label::parse("Billing bot").is_ok());
        assert!(Label::parse("  ").is_err());
        assert!(Label::parse("a\nb").is_err());
        assert!(Label::parse("x".repeat(201)).is_err());
        assert!(Description::parse("line one\nline two").is_ok());
    }

    /// The schema's patterns accept exactly what the checks accept, for
    /// every character class that matters (as `regex` reads them; Python's
    /// `re` and ECMAScript read these escapes alike).
    #[test]
    fn the_patterns_state_the_checks() {
        let one = regex::Regex::new(ONE_LINE).unwrap_or_else(|e| panic!("{e}"));
        let multi = regex::Regex::new(MULTI_LINE).unwrap_or_else(|e| panic!("{e}"));
        let samples = [
            "Billing bot",
            " x ",
            "ünïcödé",
            "a\tb",
            "a\nb",
            "\n",
            " ",
            "",
            "\u{85}",
            "a\u{85}",
            "\u{a0}",
            "\u{7f}x",
            "x\u{9f}",
            "\u{2028}",
            "😀",
            "a\rb",
            "\t\tx",
        ];
        for sample in samples {
            assert_eq!(one.is_match(sample), check_text(sample, 200, false).is_ok(), "{sample:?} (one line)");
            assert_eq!(multi.is_match(sample), check_text(sample, 2000, true).is_ok(), "{sample:?} (multi)");
        }
    }
}
