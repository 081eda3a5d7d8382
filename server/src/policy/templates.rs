//! The policy template library (`policies/templates/`), built into the
//! gateway so tenants can start a bundle of their own from one.
//!
//! Each template is a complete bundle: Rego modules in package `lictor`
//! defining `data.lictor.decision`, their unit tests and, where it has
//! settings, a `data.json` a tenant edits to tune it without touching Rego.
//! A template's `corpus.yaml` and README stay in the source tree: they are
//! not part of the bundle.

use serde_json::{Value, json};

use super::Bundle;

/// A built-in policy template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// Its name, also its directory under `policies/templates/`.
    pub name: &'static str,
    /// What it decides, in one sentence.
    pub description: &'static str,
    /// Its bundle files (file name → contents): Rego modules, test modules
    /// and `data.json` when it has one.
    pub files: &'static [(&'static str, &'static str)],
}

/// The data file of a bundle.
const DATA_FILE: &str = "data.json";

/// `(file name, include_str!(policies/templates/<template>/<file name>))`.
macro_rules! template_file {
    ($template:literal, $file:literal) => {
        ($file, include_str!(concat!("../../../policies/templates/", $template, "/", $file)))
    };
}

static TEMPLATES: [Template; 5] = [
    Template {
        name: "destructive-verbs",
        description: "Blocks intents whose verb contains a destructive word (delete, drop, purge, …), \
                      compared word by word and case-insensitively.",
        files: &[
            template_file!("destructive-verbs", "data.json"),
            template_file!("destructive-verbs", "destructive_verbs.rego"),
            template_file!("destructive-verbs", "destructive_verbs_test.rego"),
        ],
    },
    Template {
        name: "bulk-rows",
        description: "Escalates intents reaching more people or records (estimated audience_size) than \
                      one limit and blocks those above a higher one, with per-action-type limits.",
        files: &[
            template_file!("bulk-rows", "bulk_rows.rego"),
            template_file!("bulk-rows", "bulk_rows_test.rego"),
            template_file!("bulk-rows", "data.json"),
        ],
    },
    Template {
        name: "value-thresholds",
        description: "Escalates intents whose financial exposure exceeds one amount and blocks those \
                      above a higher one, with per-action-type amounts.",
        files: &[
            template_file!("value-thresholds", "data.json"),
            template_file!("value-thresholds", "value_thresholds.rego"),
            template_file!("value-thresholds", "value_thresholds_test.rego"),
        ],
    },
    Template {
        name: "regulated-domains",
        description: "Escalates intents declaring a regulated domain (HIPAA, PCI, GDPR, …) or sent to \
                      recipients under regulated email domains.",
        files: &[
            template_file!("regulated-domains", "data.json"),
            template_file!("regulated-domains", "regulated_domains.rego"),
            template_file!("regulated-domains", "regulated_domains_test.rego"),
        ],
    },
    Template {
        name: "pii-redaction",
        description: "Approves messages with email addresses, payment card numbers and US SSNs redacted \
                      from their content and tool-call arguments (approve_modified with a patch).",
        files: &[
            template_file!("pii-redaction", "data.json"),
            template_file!("pii-redaction", "pii_redaction.rego"),
            template_file!("pii-redaction", "pii_redaction_test.rego"),
        ],
    },
];

/// Every built-in template, by name.
pub fn templates() -> &'static [Template] {
    &TEMPLATES
}

/// The template called `name`.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

impl Template {
    /// The template as a bundle named after it: its Rego modules (test
    /// modules set apart) and `data.json` as the data document, exactly as
    /// [`Bundle::load_dir`] reads its directory, so both have one hash.
    pub fn bundle(&self) -> Bundle {
        let modules = self
            .files
            .iter()
            .filter(|(file, _)| file.ends_with(".rego"))
            .map(|(file, source)| (file.to_string(), source.to_string()));
        Bundle::new(self.name, modules, self.data())
    }

    /// The parsed `data.json`, `{}` without one.
    ///
    /// The shipped files parse (the tests check); should one not, the data
    /// document is a string naming the error, which no engine accepts as
    /// data: the bundle then fails to compile instead of deciding without
    /// its settings.
    fn data(&self) -> Value {
        match self.files.iter().find(|(file, _)| *file == DATA_FILE) {
            None => json!({}),
            Some((_, text)) => serde_json::from_str(text).unwrap_or_else(|e| {
                Value::String(format!("{DATA_FILE} of `{}` does not parse: {e}", self.name))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::policy::corpus::load_corpus;
    use crate::policy::{EvaluationLimits, PolicyEngine, rego_tests};

    fn templates_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/templates")
    }

    #[test]
    fn every_template_directory_is_listed_and_matches_the_files_on_disk() {
        let on_disk: BTreeSet<String> = std::fs::read_dir(templates_dir())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")))
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().to_string())
            .collect();
        let listed: BTreeSet<String> = templates().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(listed, on_disk);
        for template in templates() {
            let dir = templates_dir().join(template.name);
            let loaded = Bundle::load_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", template.name));
            let built = template.bundle();
            assert_eq!(
                built.hash(),
                loaded.hash(),
                "{}: the embedded files differ from the directory",
                template.name
            );
            assert_eq!(built.tests(), loaded.tests(), "{}: test modules differ", template.name);
            assert!(template.description.len() > 20 && !template.description.contains("  "));
        }
    }

    #[test]
    fn every_template_has_settings_tests_a_corpus_and_a_readme() {
        for template in templates() {
            let data = template.bundle().data().clone();
            assert!(
                data.is_object() && data != json!({}),
                "{}: data.json is not a settings object",
                template.name
            );
            assert!(!template.bundle().tests().is_empty(), "{}: no test module", template.name);
            let dir = templates_dir().join(template.name);
            assert!(dir.join("README.md").is_file(), "{}: no README.md", template.name);
            assert!(dir.join("corpus.yaml").is_file(), "{}: no corpus.yaml", template.name);
        }
    }

    #[test]
    fn every_template_compiles_and_its_rego_tests_pass() {
        let mut failed = Vec::new();
        for template in templates() {
            let bundle = template.bundle();
            PolicyEngine::compile(bundle.clone(), EvaluationLimits::offline())
                .unwrap_or_else(|e| panic!("{}: {e}", template.name));
            let results = rego_tests::run(&bundle).unwrap_or_else(|e| panic!("{}: {e}", template.name));
            assert!(results.len() >= 5, "{}: only {} Rego tests", template.name, results.len());
            failed.extend(results.into_iter().filter(|r| !r.passed).map(|r| (template.name, r)));
        }
        assert!(failed.is_empty(), "failing Rego tests: {failed:#?}");
    }

    #[test]
    fn every_template_corpus_passes() {
        let mut failed = Vec::new();
        for template in templates() {
            let engine = PolicyEngine::compile(template.bundle(), EvaluationLimits::offline())
                .unwrap_or_else(|e| panic!("{}: {e}", template.name));
            let corpus = load_corpus(&templates_dir().join(template.name))
                .unwrap_or_else(|e| panic!("{}: {e}", template.name))
                .unwrap_or_else(|| panic!("{}: no corpus.yaml", template.name));
            assert!(corpus.cases.len() >= 5, "{}: only {} corpus cases", template.name, corpus.cases.len());
            let outcomes = corpus.run(&engine);
            failed.extend(outcomes.iter().filter(|o| !o.passed()).map(|o| format!("{}: {o}", template.name)));
            failed.extend(
                corpus
                    .blocks_without_alternatives(&engine)
                    .into_iter()
                    .map(|case| format!("{}: {case} blocks without an alternative", template.name)),
            );
        }
        assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
    }

    #[test]
    fn a_data_file_that_does_not_parse_makes_the_bundle_fail_to_compile() {
        let broken = Template {
            name: "broken",
            description: "a template whose data.json does not parse",
            files: &[
                ("p.rego", "package lictor\nimport rego.v1\ndecision := {\"verdict\": \"approve\"}\n"),
                ("data.json", "{\"limits\": "),
            ],
        };
        let error = PolicyEngine::compile(broken.bundle(), EvaluationLimits::offline())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(error.contains("data must be object"), "{error}");
    }

    #[test]
    fn templates_are_found_by_name() {
        assert_eq!(template("pii-redaction").map(|t| t.name), Some("pii-redaction"));
        assert!(template("nope").is_none());
    }
}
