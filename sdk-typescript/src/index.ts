// lictor: the TypeScript SDK of Lictor, a governance gateway for AI agents.
//
// `Gateway` declares intents and calls tools; `gw.api` is the generated
// client for every operation; `attenuate`, `verifyWebhook` and
// `verifyAuditExport` work offline.

export { Gateway, unwrap } from "./gateway.js";
export type {
  Approval,
  CallToolOptions,
  Decision,
  DeclareOptions,
  FetchResult,
  GatewayOptions,
  Intent,
  ListOptions,
  Verdict,
  WaitForDecisionOptions,
} from "./gateway.js";
export {
  ApiError,
  ApprovalRequired,
  BudgetError,
  CapabilityError,
  IntentError,
  JsonRpcError,
  LictorError,
  PolicyError,
  PrecisionError,
  TimeoutError,
  ToolCallDenied,
  TransportError,
} from "./errors.js";
export type { ApiErrorCode, DenialData, WaitOptions } from "./errors.js";
export { backoffMs, governedFetch, retryAfterMs } from "./http.js";
export type { HttpOptions, RetryOptions } from "./http.js";
export { MCP_PROTOCOL_VERSION } from "./mcp.js";
export type { CallToolResult, McpTool } from "./mcp.js";
export { collect, paginate } from "./pagination.js";
export type { Page } from "./pagination.js";
export {
  attenuate,
  attenuateWith,
  CAVEAT_TYPES,
  caveatsFor,
  deriveRootKey,
  globMatch,
  MAX_CAVEATS,
  MAX_TOKEN_BYTES,
  mintToken,
  parseToken,
  randomJti,
  TokenError,
  verifyToken,
} from "./token.js";
export type { ActionType, AttenuateOptions, Caveat, ParsedToken, TokenErrorCode, TokenHeader } from "./token.js";
export { signWebhook, SIGNATURE_HEADER, verifyWebhook, WebhookVerificationError } from "./webhook.js";
export type { VerifyWebhookOptions, WebhookErrorCode } from "./webhook.js";
export { CSV_COLUMNS, CSV_COLUMNS_V1, CSV_COLUMNS_WITHOUT_PERSON, ExportVerificationError, parseCheckpointKeys, verifyAuditExport } from "./audit/export.js";
export type { ExportFailureReason, ExportKeys, ExportReport, ExportSource, VerifyExportOptions } from "./audit/export.js";
export { CheckpointError, openCheckpoint, parseCheckpoint, parseVerifierKey } from "./audit/checkpoint.js";
export type { Checkpoint, NoteVerifier } from "./audit/checkpoint.js";
export { Frontier, ProofError, verifyConsistency } from "./audit/merkle.js";
export type { ProofErrorKind } from "./audit/merkle.js";
export { canonicalJson, parseJson, JsonSyntaxError } from "./json.js";
export type { JsonValue } from "./json.js";
export { CryptoUnavailableError } from "./crypto.js";
export type { Ed25519Backend } from "./crypto.js";
export { SDK_VERSION } from "./version.js";
export type { components, paths } from "./generated/schema.js";
