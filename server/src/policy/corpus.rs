//! Decision corpora: YAML files of policy inputs and the decisions a bundle
//! must make for them, run through the same [`PolicyEngine`] the gateway
//! decides with.
//!
//! A bundle directory may hold a `corpus.yaml`: a list of cases
//!
//! ```yaml
//! - note: a transfer above the limit is blocked
//!   input:
//!     intent:
//!       agent: {id: billing-bot}
//!       action: {type: transact, verb: pay,
//!                payload: {estimated_impact: {financial_exposure_usd: 25000}}}
//!   want:
//!     verdict: block
//!     reasons: [transact_over_limit]
//! ```
//!
//! - `note` (required, non-empty) names the case in every report.
//! - `input` is the policy input document (docs/policies.md). Its
//!   `intent`, when present, must be a valid intent: it is checked against
//!   the intent schema and normalised as the gateway does (amounts become
//!   floating-point numbers, `intent.context` defaults to `{}`), so a case
//!   sees the document a real request would produce. The rest is passed as
//!   written.
//! - `want.verdict` (required) is compared with the decision's verdict after
//!   the gateway's reading of the output (`approve` with a patch is
//!   `approve_modified`).
//! - `want.reasons` (optional) lists reason codes that must all be among
//!   the decision's reasons, in any order; the decision may report others
//!   too. The empty list is the one exception: `reasons: []` asserts that
//!   the decision reports no reason at all.
//! - `want.patch` (optional) is the exact RFC 6902 patch, compared
//!   operation by operation, in order; `patch: []` asserts there is none.
//! - `want.alternatives` (optional) lists the codes of suggested
//!   alternatives that must all be among the decision's, as `reasons`
//!   does; `alternatives: []` asserts there are none.
//!
//! Cases are numbered from 1 in messages. The corpus is not part of the
//! bundle: [`Bundle::load_dir`](super::Bundle::load_dir) reads only Rego
//! modules and `data.json`, so a corpus never changes a bundle's hash.

use std::fmt;
use std::path::{Path, PathBuf};

use lictor_api::error::{ApiError, ErrorCode};
use lictor_api::intents::{Intent, PatchOperation, Verdict};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PolicyEngine, PolicyOutput};

/// The file name of a bundle directory's corpus.
pub const CORPUS_FILE: &str = "corpus.yaml";

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The corpus file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not YAML, or not a list of cases.
    #[error("corpus is not a YAML list of cases: {0}")]
    Syntax(String),
    /// A case does not have the documented shape.
    #[error("case {number}{}: {}{message}", note_suffix(note.as_deref()), field_prefix(field.as_deref()))]
    Case {
        /// The case's position in the list, from 1.
        number: usize,
        /// Its note, when it has a readable one.
        note: Option<String>,
        /// The offending field, as a path within the case (`want.verdict`).
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
}

fn note_suffix(note: Option<&str>) -> String {
    note.map(|n| format!(" (`{n}`)")).unwrap_or_default()
}

fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("`{f}`: ")).unwrap_or_default()
}

/// One case: an input and the decision the bundle must make for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// What the case shows.
    pub note: String,
    /// The policy input document, normalised as the gateway builds it.
    pub input: Value,
    /// The expected decision.
    pub want: Want,
}

/// The expected decision of a case.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Want {
    /// The verdict.
    pub verdict: Verdict,
    /// Reason codes that must all be reported; `Some(vec![])` means none
    /// may be; `None` does not check reasons.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
    /// The exact patch; `None` does not check it.
    #[serde(default)]
    pub patch: Option<Vec<PatchOperation>>,
    /// Codes of alternatives that must all be suggested; `Some(vec![])`
    /// means none may be; `None` does not check them.
    #[serde(default)]
    pub alternatives: Option<Vec<String>>,
}

/// A case as written, before the input is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    note: String,
    input: Value,
    want: Want,
}

/// A list of cases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseOutcome {
    /// The case's position, from 1.
    pub number: usize,
    /// Its note.
    pub note: String,
    /// Every way the decision differs from `want` (empty when it passed).
    pub mismatches: Vec<String>,
}

impl CaseOutcome {
    /// Whether the decision was the one wanted.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl fmt::Display for CaseOutcome {
    /// `case 3 (`note`)`, then `: ` and the mismatches when it failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "case {} (`{}`)", self.number, self.note)?;
        if !self.passed() {
            write!(f, ": {}", self.mismatches.join("; "))?;
        }
        Ok(())
    }
}

/// Reads `dir/corpus.yaml`; `Ok(None)` when the directory has none.
pub fn load_corpus(dir: &Path) -> Result<Option<Corpus>, CorpusError> {
    let path = dir.join(CORPUS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Corpus::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CorpusError::Read { path, source }),
    }
}

impl Corpus {
    /// Parses a corpus, checking every case.
    pub fn parse(text: &str) -> Result<Corpus, CorpusError> {
        // Two passes: the YAML as a whole (syntax errors carry a line and
        // column), then each case on its own, so an error names the case.
        let documents: Vec<yaml_serde::Value> =
            yaml_serde::from_str(text).map_err(|e| CorpusError::Syntax(e.to_string()))?;
        let cases = documents
            .into_iter()
            .enumerate()
            .map(|(index, document)| parse_case(index + 1, document))
            .collect::<Result<_, _>>()?;
        Ok(Corpus { cases })
    }

    /// Evaluates every case with `engine`.
    pub fn run(&self, engine: &PolicyEngine) -> Vec<CaseOutcome> {
        self.cases
            .iter()
            .enumerate()
            .map(|(index, case)| CaseOutcome {
                number: index + 1,
                note: case.note.clone(),
                mismatches: match engine.evaluate(&case.input) {
                    Ok(output) => mismatches(&case.want, &output),
                    // The gateway would block, failing closed; a corpus
                    // names the error instead.
                    Err(error) => vec![format!("no decision (`{}`): {error}", error.code())],
                },
            })
            .collect()
    }

    /// The cases `engine` blocks without suggesting an alternative: none,
    /// for the bundles Lictor ships (docs/policies.md, "Alternatives").
    pub fn blocks_without_alternatives(&self, engine: &PolicyEngine) -> Vec<String> {
        self.cases
            .iter()
            .enumerate()
            .filter(|(_, case)| {
                engine
                    .evaluate(&case.input)
                    .is_ok_and(|output| output.verdict == Verdict::Block && output.alternatives.is_empty())
            })
            .map(|(index, case)| format!("case {} (`{}`)", index + 1, case.note))
            .collect()
    }
}

fn parse_case(number: usize, document: yaml_serde::Value) -> Result<Case, CorpusError> {
    let note = document.get("note").and_then(yaml_serde::Value::as_str).map(str::to_string);
    let invalid = |field: Option<String>, message: String| CorpusError::Case {
        number,
        note: note.clone().filter(|n| !n.trim().is_empty()),
        field,
        message,
    };
    // Policy inputs are JSON: a case that has no JSON reading (a mapping
    // with non-string keys, say) is malformed as a whole.
    let json = serde_json::to_value(&document).map_err(|e| invalid(None, format!("not JSON-like: {e}")))?;
    let raw: RawCase = lictor_api::extract::parse_value(json)
        .map_err(|e| invalid(error_path(&e).and_then(within_case), e.message))?;
    if raw.note.trim().is_empty() {
        return Err(invalid(Some("note".into()), "must not be empty".into()));
    }
    let input = gateway_input(raw.input).map_err(|(field, message)| invalid(Some(field), message))?;
    Ok(Case { note: raw.note, input, want: raw.want })
}

/// Where a parse error is, as a JSONPath. A missing field's path ends at
/// the field itself, which the message already names: it points at the
/// field's parent instead.
fn error_path(error: &ApiError) -> Option<&str> {
    let path = error.path.as_deref()?;
    if error.error_code == ErrorCode::MissingField.as_str() {
        return Some(path.rsplit_once('.').map_or("$", |(parent, _)| parent));
    }
    Some(path)
}

/// A JSONPath relative to the case (`$.want.verdict`) as a field name
/// (`want.verdict`); `None` for the case itself.
fn within_case(path: &str) -> Option<String> {
    let field = path.strip_prefix('$').unwrap_or(path).trim_start_matches('.');
    (!field.is_empty()).then(|| field.to_string())
}

/// The input the gateway would build: `intent` validated and serialised
/// from the typed intent, with `context` (default `{}`) put back.
fn gateway_input(mut input: Value) -> Result<Value, (String, String)> {
    let Some(document) = input.as_object_mut() else {
        return Err(("input".into(), "must be an object".into()));
    };
    let Some(mut intent) = document.remove("intent") else {
        return Ok(input);
    };
    let Some(fields) = intent.as_object_mut() else {
        return Err(("input.intent".into(), "must be an object".into()));
    };
    let context = fields.remove("context").unwrap_or_else(|| json!({}));
    if !context.is_object() {
        return Err(("input.intent.context".into(), "must be an object".into()));
    }
    let typed: Intent = lictor_api::extract::parse_value(intent).map_err(|e| {
        let at = lictor_api::extract::reroot_path("$.input.intent", error_path(&e).unwrap_or("$"));
        (within_case(&at).unwrap_or_else(|| "input.intent".into()), e.message)
    })?;
    let mut normalised =
        serde_json::to_value(&typed).map_err(|e| ("input.intent".to_string(), e.to_string()))?;
    if let Some(fields) = normalised.as_object_mut() {
        fields.insert("context".into(), context);
    }
    document.insert("intent".into(), normalised);
    Ok(input)
}

/// How `output` differs from `want`.
fn mismatches(want: &Want, output: &PolicyOutput) -> Vec<String> {
    let mut found = Vec::new();
    if want.verdict != output.verdict {
        found.push(format!("verdict: want `{}`, got `{}`", want.verdict.as_str(), output.verdict.as_str()));
    }
    let got: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
    match want.reasons.as_deref() {
        None => {}
        Some([]) if !got.is_empty() => found.push(format!("reasons: want none, got {}", codes(&got))),
        Some(wanted) => {
            let missing: Vec<&str> =
                wanted.iter().map(String::as_str).filter(|code| !got.contains(code)).collect();
            if !missing.is_empty() {
                found.push(format!("reasons: missing {} (got {})", codes(&missing), codes(&got)));
            }
        }
    }
    if let Some(patch) = &want.patch
        && *patch != output.patch
    {
        found.push(format!("patch: want {}, got {}", render(patch), render(&output.patch)));
    }
    let suggested: Vec<&str> =
        output.alternatives.iter().filter_map(|a| a.code.as_ref().map(|c| c.as_str())).collect();
    match want.alternatives.as_deref() {
        None => {}
        Some([]) if !output.alternatives.is_empty() => {
            found.push(format!("alternatives: want none, got {}", output.alternatives.len()))
        }
        Some(wanted) => {
            let missing: Vec<&str> =
                wanted.iter().map(String::as_str).filter(|code| !suggested.contains(code)).collect();
            if !missing.is_empty() {
                found.push(format!("alternatives: missing {} (got {})", codes(&missing), codes(&suggested)));
            }
        }
    }
    found
}

fn codes(codes: &[&str]) -> String {
    if codes.is_empty() {
        return "none".into();
    }
    codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
}

fn render(patch: &[PatchOperation]) -> String {
    serde_json::to_string(patch).unwrap_or_else(|e| format!("<unprintable patch: {e}>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Bundle, EvaluationLimits};

    fn engine() -> PolicyEngine {
        PolicyEngine::compile(Bundle::default_bundle(), EvaluationLimits::offline())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse(text: &str) -> Corpus {
        Corpus::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match Corpus::parse(text) {
            Ok(corpus) => panic!("parsed: {corpus:?}"),
            Err(e) => e.to_string(),
        }
    }

    const BLOCKED_TRANSFER: &str = "
- note: a small read is approved
  input:
    intent: {agent: {id: a}, action: {type: access, verb: read}}
  want: {verdict: approve, reasons: []}
- note: a large transfer is blocked
  input:
    intent:
      agent: {id: a}
      action:
        type: transact
        verb: transfer
        payload: {estimated_impact: {financial_exposure_usd: 25000}}
  want:
    verdict: block
    reasons: [transact_over_limit]
    patch: []
";

    #[test]
    fn the_default_bundle_corpus_passes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default");
        let corpus = load_corpus(&dir).unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
        assert!(corpus.cases.len() >= 12, "expected the default corpus, found {} cases", corpus.cases.len());
        let failed: Vec<String> =
            corpus.run(&engine()).iter().filter(|o| !o.passed()).map(ToString::to_string).collect();
        assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
        let bare = corpus.blocks_without_alternatives(&engine());
        assert!(bare.is_empty(), "blocks without an alternative: {bare:?}");
    }

    #[test]
    fn matching_decisions_pass() {
        let outcomes = parse(BLOCKED_TRANSFER).run(&engine());
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(CaseOutcome::passed), "{outcomes:#?}");
        assert_eq!(outcomes[1].to_string(), "case 2 (`a large transfer is blocked`)");
    }

    #[test]
    fn a_wrong_want_fails_naming_the_note_and_the_difference() {
        let wrong = BLOCKED_TRANSFER.replace("verdict: block", "verdict: escalate");
        let outcomes = parse(&wrong).run(&engine());
        assert!(outcomes[0].passed());
        assert!(!outcomes[1].passed());
        assert_eq!(
            outcomes[1].to_string(),
            "case 2 (`a large transfer is blocked`): verdict: want `escalate`, got `block`"
        );
    }

    #[test]
    fn reasons_must_all_be_present_and_empty_means_none() {
        let text = "
- note: escalated with a redaction
  input:
    intent:
      agent: {id: a}
      action:
        type: publish
        verb: post
        payload: {content: ssn 123-45-6789, estimated_impact: {audience_size: 50000}}
  want: {verdict: escalate, reasons: [ssn_redacted]}
- note: one missing code
  input:
    intent: {agent: {id: a}, action: {type: access, verb: read}}
  want: {verdict: approve, reasons: [publish_wide_audience]}
- note: none wanted
  input:
    intent:
      agent: {id: a}
      action: {type: publish, verb: post, payload: {estimated_impact: {audience_size: 50000}}}
  want: {verdict: escalate, reasons: []}
";
        let outcomes = parse(text).run(&engine());
        let lines: Vec<String> = outcomes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "case 1 (`escalated with a redaction`)",
                "case 2 (`one missing code`): reasons: missing `publish_wide_audience` (got none)",
                "case 3 (`none wanted`): reasons: want none, got `publish_wide_audience`",
            ]
        );
    }

    #[test]
    fn patches_compare_exactly() {
        let text = r#"
- note: a card is redacted
  input:
    intent:
      agent: {id: a}
      action: {type: communicate, verb: send, payload: {content: "card 4111 1111 1111 1111"}}
  want:
    verdict: approve_modified
    patch: [{op: replace, path: /content, value: "card [REDACTED]"}]
"#;
        let outcomes = parse(text).run(&engine());
        assert_eq!(
            outcomes[0].mismatches,
            [
                r#"patch: want [{"op":"replace","path":"/content","value":"card [REDACTED]"}], got [{"op":"replace","path":"/content","value":"card [REDACTED CARD]"}]"#
            ]
        );
    }

    #[test]
    fn inputs_are_normalised_as_the_gateway_builds_them() {
        let corpus = parse(BLOCKED_TRANSFER);
        let intent = &corpus.cases[1].input["intent"];
        assert_eq!(intent["context"], serde_json::json!({}));
        assert!(intent["action"]["payload"]["estimated_impact"]["financial_exposure_usd"].is_f64());
    }

    #[test]
    fn policy_errors_fail_the_case() {
        let bundle = Bundle::new(
            "undefined",
            [("p.rego".to_string(), "package lictor\nimport rego.v1\ndecision := 1 if input.never\n".into())],
            serde_json::json!({}),
        );
        let engine =
            PolicyEngine::compile(bundle, EvaluationLimits::offline()).unwrap_or_else(|e| panic!("{e}"));
        let outcomes = parse("- {note: anything, input: {}, want: {verdict: approve}}").run(&engine);
        assert_eq!(
            outcomes[0].mismatches,
            ["no decision (`policy_undefined`): policy decision is undefined for this input"]
        );
    }

    #[test]
    fn malformed_cases_name_the_case_and_the_field() {
        let cases = [
            (
                BLOCKED_TRANSFER.replace("verdict: block", "verdict: maybe"),
                "case 2 (`a large transfer is blocked`): `want.verdict`: unknown variant `maybe`",
            ),
            (
                BLOCKED_TRANSFER.replace("reasons: [transact_over_limit]", "reason: [transact_over_limit]"),
                "case 2 (`a large transfer is blocked`): `want.reason`: unknown field `reason`",
            ),
            (
                BLOCKED_TRANSFER.replace("  want: {verdict: approve, reasons: []}\n", ""),
                "case 1 (`a small read is approved`): missing field `want`",
            ),
            (
                BLOCKED_TRANSFER.replace("verb: transfer", "verb: 9lives"),
                "case 2 (`a large transfer is blocked`): `input.intent.action.verb`: ",
            ),
            (
                BLOCKED_TRANSFER.replace("financial_exposure_usd: 25000", "financial_exposure_usd: -1"),
                "case 2 (`a large transfer is blocked`): `input.intent.action.payload.estimated_impact.financial_exposure_usd`: ",
            ),
            (
                BLOCKED_TRANSFER.replace("    verdict: block\n", ""),
                "case 2 (`a large transfer is blocked`): `want`: missing field `verdict`",
            ),
            (
                BLOCKED_TRANSFER.replace("        verb: transfer\n", ""),
                "case 2 (`a large transfer is blocked`): `input.intent.action`: missing field `verb`",
            ),
            ("- {note: '', input: {}, want: {verdict: approve}}".into(), "case 1: `note`: must not be empty"),
            ("- {note: x, input: [], want: {verdict: approve}}".into(), "case 1 (`x`): `input`: must be an object"),
            (
                "- {note: x, input: {intent: {agent: {id: a}, action: {type: access, verb: read}, context: 1}}, want: {verdict: approve}}".into(),
                "case 1 (`x`): `input.intent.context`: must be an object",
            ),
            (
                "- {note: x, input: {}, want: {verdict: approve, patch: [{op: nope, path: /a}]}}".into(),
                "case 1 (`x`): `want.patch[0].op`: unknown variant `nope`",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&text);
            assert!(message.starts_with(expected), "{message:?} does not start with {expected:?}");
        }
    }

    #[test]
    fn malformed_yaml_is_a_syntax_error_with_a_line() {
        let message = error("- note: x\n  input: {\n");
        assert!(message.starts_with("corpus is not a YAML list of cases: "), "{message}");
        assert!(message.contains("line"), "{message}");
        let message = error("note: not a list\n");
        assert!(message.starts_with("corpus is not a YAML list of cases: "), "{message}");
    }

    #[test]
    fn a_directory_without_a_corpus_has_none() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load_corpus(dir.path()), Ok(None)));
        std::fs::write(dir.path().join(CORPUS_FILE), BLOCKED_TRANSFER).unwrap_or_else(|e| panic!("{e}"));
        let corpus = load_corpus(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(corpus.map(|c| c.cases.len()), Some(2));
    }
}
