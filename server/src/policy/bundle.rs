//! Policy bundles: Rego modules plus JSON data, content-addressed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::audit::digest_json;

/// An immutable policy bundle.
///
/// `hash` is the hex SHA-256 of the RFC 8785 canonical JSON of
/// `{"data": <data>, "modules": {<file name>: <source>, …}}`. Test modules
/// (`*_test.rego`) are kept apart: they never take part in decisions and
/// do not change the hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    name: String,
    modules: BTreeMap<String, String>,
    tests: BTreeMap<String, String>,
    data: Value,
    hash: String,
}

/// Whether a file name is a Rego test module.
pub(crate) fn is_test_module(name: &str) -> bool {
    name.ends_with("_test.rego")
}

impl Bundle {
    /// Whether every runtime module is one the gateway ships, unchanged:
    /// the default bundle's, or one template's (its data may differ). Only
    /// such bundles run on regorus' compiled VM.
    pub fn is_shipped(&self) -> bool {
        super::rvm::is_shipped(self)
    }

    /// A bundle of `modules` (file name → source) and `data`. Test modules
    /// among them are set apart.
    pub fn new(name: &str, modules: impl IntoIterator<Item = (String, String)>, data: Value) -> Bundle {
        let (tests, modules): (BTreeMap<_, _>, BTreeMap<_, _>) =
            modules.into_iter().partition(|(file, _)| is_test_module(file));
        let hash = digest_json(&json!({"data": data, "modules": modules}));
        Bundle { name: name.to_string(), modules, tests, data, hash }
    }

    /// The bundle built into the gateway (`policies/default`).
    pub fn default_bundle() -> Bundle {
        Bundle::new(
            "default",
            [
                (
                    "lictor.rego".to_string(),
                    include_str!("../../../policies/default/lictor.rego").to_string(),
                ),
                (
                    "lictor_test.rego".to_string(),
                    include_str!("../../../policies/default/lictor_test.rego").to_string(),
                ),
            ],
            json!({}),
        )
    }

    /// Loads every `*.rego` file of `dir` (and `data.json` if present).
    pub fn load_dir(dir: &Path) -> std::io::Result<Bundle> {
        let mut modules = Vec::new();
        let mut data = json!({});
        let shown = dir.display();
        let listing = std::fs::read_dir(dir).map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "no such directory".to_string(),
                std::io::ErrorKind::NotADirectory => {
                    "not a directory (give the bundle's directory, not one of its files)".to_string()
                }
                _ => e.to_string(),
            };
            std::io::Error::new(e.kind(), format!("`{shown}`: {what}"))
        })?;
        let in_file = |path: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
        };
        let mut entries: Vec<_> = listing.collect::<Result<_, _>>().map_err(|e| in_file(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().to_string();
            let path = entry.path();
            if name.ends_with(".rego") {
                modules.push((name, std::fs::read_to_string(&path).map_err(|e| in_file(&path, e))?));
            } else if name == "data.json" {
                let text = std::fs::read_to_string(&path).map_err(|e| in_file(&path, e))?;
                data = serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("`{}`: {e}", path.display()))
                })?;
            }
        }
        let name =
            dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "bundle".into());
        Ok(Bundle::new(&name, modules, data))
    }

    /// The bundle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its content hash (hex SHA-256).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Runtime modules, by file name.
    pub fn modules(&self) -> &BTreeMap<String, String> {
        &self.modules
    }

    /// Test modules, by file name.
    pub fn tests(&self) -> &BTreeMap<String, String> {
        &self.tests
    }

    /// Its data document.
    pub fn data(&self) -> &Value {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_modules_and_data_but_not_tests() {
        let m = |s: &str| ("a.rego".to_string(), s.to_string());
        let base = Bundle::new("x", [m("package a")], json!({}));
        assert_eq!(base.hash().len(), 64);
        assert_ne!(Bundle::new("x", [m("package b")], json!({})).hash(), base.hash());
        assert_ne!(Bundle::new("x", [m("package a")], json!({"k": 1})).hash(), base.hash());
        let with_test =
            Bundle::new("y", [m("package a"), ("a_test.rego".into(), "package a".into())], json!({}));
        assert_eq!(with_test.hash(), base.hash());
        assert_eq!(with_test.tests().len(), 1);
    }

    #[test]
    fn the_default_bundle_matches_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default");
        let loaded = Bundle::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.hash(), Bundle::default_bundle().hash());
    }
}
