//! The MCP protocol revisions Lictor speaks and the names they define:
//! protocol versions, the per-request `_meta` keys of the 2026-07-28
//! ("modern") era, and the MCP-specific JSON-RPC error codes.
//!
//! Two eras exist. The legacy era (2025-03-26 through 2025-11-25) opens a
//! session with `initialize`; the modern era (2026-07-28) has no handshake
//! and carries the version and client capabilities in every request's
//! `params._meta`. HTTP header rules live in [`super::headers`].

/// The modern, stateless protocol revision.
pub(crate) const MODERN_VERSION: &str = "2026-07-28";

/// The newest legacy (`initialize`-based) revision, the one Lictor offers.
pub(crate) const LATEST_LEGACY_VERSION: &str = "2025-11-25";

/// Legacy revisions Lictor accepts from an upstream, newest first.
pub(crate) const LEGACY_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// Whether `version` is a legacy revision Lictor accepts.
pub(crate) fn is_supported_legacy_version(version: &str) -> bool {
    LEGACY_VERSIONS.contains(&version)
}

/// `_meta` key: the request's protocol version (required, modern era).
pub(crate) const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities (required, modern era).
pub(crate) const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version (recommended, modern era).
pub(crate) const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// Result `_meta` key: the server's name and version (modern era).
pub(crate) const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `-32020`: HTTP request headers are missing, malformed or contradict
/// the body (modern era, HTTP 400).
pub(crate) const HEADER_MISMATCH: i64 = -32020;
/// `-32021`: the server needs a client capability the request did not
/// declare; `data.requiredCapabilities` names it (modern era, HTTP 400).
pub(crate) const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// `-32022`: the requested protocol version is not supported;
/// `data: {supported, requested}` (modern era, HTTP 400).
pub(crate) const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Whether `code` is one of the errors a modern (2026-07-28) server uses to
/// refuse a request at the protocol level, before executing it.
pub(crate) fn is_modern_protocol_error(code: i64) -> bool {
    matches!(code, HEADER_MISMATCH | MISSING_REQUIRED_CLIENT_CAPABILITY | UNSUPPORTED_PROTOCOL_VERSION)
}
