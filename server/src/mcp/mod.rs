//! MCP (Model Context Protocol) plumbing: JSON-RPC 2.0 messages, the
//! protocol revisions and their HTTP header rules, an event-stream parser,
//! and the client the gateway uses to forward approved tool calls to the
//! upstream MCP server that owns the tool.
//!
//! Lictor speaks both protocol eras: the legacy, session-based revisions
//! (2025-03-26 to 2025-11-25) and the stateless 2026-07-28 revision. This
//! module holds no gateway policy: deciding whether a call may go upstream
//! is the pipeline's job, and the agent-facing `/v1/mcp` endpoint lives
//! with the other HTTP handlers.

pub mod headers;
pub mod jsonrpc;
pub mod protocol;
pub mod sessions;
pub mod sse;
pub mod upstream;
