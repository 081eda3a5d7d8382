//! The application layer: what each operation of the API does, apart
//! from how it arrived.
//!
//! One module per resource, one public function per operation. Each
//! takes the [`Caller`](crate::caller::Caller) and the operation's input
//! as the contract's extractors produced it (`Result<T, ApiError>`), and
//! returns the contract's response type or an [`Error`](crate::error::Error).
//! Handing the input over unopened lets every operation keep one order:
//! credentials first (401), then permission (403), then the input (400),
//! so a caller without valid credentials learns nothing from a bad body.
//!
//! The HTTP front door (`server/src/http/`) calls into this layer and nothing
//! here imports it back.

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod discovery;
pub(crate) mod integrations;
pub(crate) mod intents;
pub(crate) mod mcp;
pub(crate) mod operators;
pub(crate) mod policies;
pub(crate) mod reports;
pub(crate) mod scim;
pub(crate) mod system;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod tools;
pub(crate) mod upstreams;

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn sources(dir: &str) -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("source file");
                (path.display().to_string(), text)
            })
            .collect();
        files.sort();
        files
    }

    /// The layers import one way: `http` → `app` → the rest.
    #[test]
    fn the_application_layer_does_not_import_the_front_door() {
        // The needles are split so that this file does not match itself.
        let (front_door, server) = (concat!("crate::", "http"), concat!("drop", "shot"));
        for (path, text) in sources("app") {
            assert!(!text.contains(front_door), "{path} imports the HTTP front door");
            assert!(!text.contains(server), "{path} depends on the HTTP server");
        }
        for file in ["caller.rs", "state.rs", "auth.rs"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
            let text = std::fs::read_to_string(&path).expect("source file");
            assert!(!text.contains(front_door) && !text.contains("crate::app"), "{file} imports upward");
        }
    }

    /// Handlers hold no logic: they never reach the store or the writer.
    #[test]
    fn handlers_do_not_reach_the_store() {
        for (path, text) in sources("http") {
            for reach in [".store.", ".store()", "writer()", "crate::store"] {
                assert!(!text.contains(reach), "{path} reaches `{reach}`: move it to `app/`");
            }
        }
    }
}
