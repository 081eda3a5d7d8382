//! JSON-RPC 2.0 messages as MCP carries them: typed requests,
//! notifications and responses, one strict classifier for incoming bytes
//! (`parse_message`), and serialisers that write the exact wire shape
//! (`{"jsonrpc":"2.0","id":…,"result":…}`).
//!
//! This module knows JSON-RPC only. It does not know MCP methods, versions
//! or HTTP; batches are recognised (so a caller can refuse them, as every
//! MCP revision since 2025-06-18 requires) but never executed.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// The only JSON-RPC version, the value of every message's `jsonrpc` member.
pub const VERSION: &str = "2.0";

/// Invalid JSON was received.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters (in MCP also: unknown tool, bad cursor).
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub(crate) const INTERNAL_ERROR: i64 = -32603;

/// The `"jsonrpc": "2.0"` member: serialises as `"2.0"` and refuses any
/// other value when deserialised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(VERSION)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let version = String::deserialize(deserializer)?;
        if version == VERSION {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom(format!("unsupported json-rpc version `{version}`")))
        }
    }
}

/// A request id: a number or a string. The JSON form is kept as received
/// (`1` stays a number, `"1"` a string), so a response echoes it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Number(Number),
    /// A string id.
    String(String),
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Number(n.into())
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n.into())
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(s.to_string())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::String(s)
    }
}

impl fmt::Display for Id {
    /// The JSON form: `7` or `"abc"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

/// A request: a method call that expects a response with the same `id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: Version,
    /// The id the response must echo.
    pub id: Id,
    /// The method name.
    pub method: String,
    /// Parameters: an object or an array (MCP uses objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A request with the given id, method and parameters.
    pub fn new(id: impl Into<Id>, method: impl Into<String>, params: Option<Value>) -> Self {
        Request { jsonrpc: Version, id: id.into(), method: method.into(), params }
    }

    /// The exact wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }
}

/// A notification: a method call without an id, never answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: Version,
    /// The method name.
    pub method: String,
    /// Parameters: an object or an array (MCP uses objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Notification {
    /// A notification with the given method and parameters.
    pub(crate) fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Notification { jsonrpc: Version, method: method.into(), params }
    }

    /// The exact wire form.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }
}

/// What a response carries: a result or an error, never both.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// The call succeeded.
    Result(Value),
    /// The call failed.
    Error(RpcError),
}

/// A response to a request.
///
/// Serialises as `{"jsonrpc":"2.0","id":…,"result":…}` or
/// `{"jsonrpc":"2.0","id":…,"error":{…}}`, members in that order. An error
/// whose request id could not be determined has `id: None` and is written
/// without an `id` member, as the MCP schema (2025-11-25 and later) has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The id of the request answered; `None` only for an error to a
    /// message whose id could not be read.
    pub id: Option<Id>,
    /// The result or the error.
    pub payload: Payload,
}

impl Response {
    /// A successful response.
    pub fn result(id: Id, result: Value) -> Self {
        Response { id: Some(id), payload: Payload::Result(result) }
    }

    /// An error response; `id` is `None` when the request's id is unknown.
    pub fn error(id: Option<Id>, error: RpcError) -> Self {
        Response { id, payload: Payload::Error(error) }
    }

    /// The exact wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Response", if self.id.is_some() { 3 } else { 2 })?;
        out.serialize_field("jsonrpc", VERSION)?;
        match &self.id {
            Some(id) => out.serialize_field("id", id)?,
            None => out.skip_field("id")?,
        }
        match &self.payload {
            Payload::Result(result) => out.serialize_field("result", result)?,
            Payload::Error(error) => out.serialize_field("error", error)?,
        }
        out.end()
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("json-rpc error {code}: {message}")]
pub struct RpcError {
    /// The error code (see the constants in this module).
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Additional information, defined by the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and a message, without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    /// The same error carrying `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// `-32700`: the bytes are not JSON.
    pub fn parse_error(message: impl Into<String>) -> Self {
        RpcError::new(PARSE_ERROR, message)
    }

    /// `-32600`: JSON, but not a valid JSON-RPC message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_REQUEST, message)
    }

    /// `-32601`: no such method.
    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(METHOD_NOT_FOUND, format!("method `{method}` not found"))
    }

    /// `-32602`: the parameters are wrong.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// `-32603`: the receiver failed.
    pub fn internal_error(message: impl Into<String>) -> Self {
        RpcError::new(INTERNAL_ERROR, message)
    }
}

/// Any single JSON-RPC message, or a batch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Message {
    /// A request (has `method` and `id`).
    Request(Request),
    /// A notification (has `method`, no `id`).
    Notification(Notification),
    /// A response (has `result` or `error`).
    Response(Response),
    /// A JSON array: a JSON-RPC batch, unsupported by MCP since 2025-06-18.
    /// The elements are left unparsed.
    Batch(Vec<Value>),
}

impl Message {
    /// Classifies an already parsed JSON value (see [`parse_message`]).
    pub(crate) fn from_value(value: Value) -> Result<Message, RpcError> {
        match value {
            Value::Array(items) => Ok(Message::Batch(items)),
            Value::Object(object) => classify(object),
            _ => Err(RpcError::invalid_request("a json-rpc message must be a json object")),
        }
    }
}

/// Parses and classifies the bytes of one message.
///
/// Invalid JSON is a `-32700` parse error; valid JSON that is not a JSON-RPC
/// 2.0 message (wrong or missing `jsonrpc`, bad `id`, `method` that is not a
/// string, `params` that is not structured, both `result` and `error`, …)
/// is a `-32600` invalid request. A JSON array is returned as
/// [`Message::Batch`] for the caller to refuse.
pub(crate) fn parse_message(bytes: &[u8]) -> Result<Message, RpcError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| RpcError::parse_error(format!("invalid json: {e}")))?;
    Message::from_value(value)
}

/// How the `id` member of a message appeared.
enum IdMember {
    Absent,
    Null,
    Present(Id),
}

fn classify(mut object: Map<String, Value>) -> Result<Message, RpcError> {
    match object.get("jsonrpc") {
        Some(Value::String(version)) if version == VERSION => {}
        Some(_) => return Err(RpcError::invalid_request("`jsonrpc` must be `\"2.0\"`")),
        None => return Err(RpcError::invalid_request("missing `jsonrpc` member")),
    }
    let id = match object.remove("id") {
        None => IdMember::Absent,
        Some(Value::Null) => IdMember::Null,
        Some(Value::Number(n)) => IdMember::Present(Id::Number(n)),
        Some(Value::String(s)) => IdMember::Present(Id::String(s)),
        Some(_) => return Err(RpcError::invalid_request("`id` must be a string or a number")),
    };
    if let Some(method) = object.remove("method") {
        let Value::String(method) = method else {
            return Err(RpcError::invalid_request("`method` must be a string"));
        };
        if object.contains_key("result") || object.contains_key("error") {
            return Err(RpcError::invalid_request("a message cannot carry `method` and `result` or `error`"));
        }
        let params = match object.remove("params") {
            None => None,
            Some(params @ (Value::Object(_) | Value::Array(_))) => Some(params),
            Some(_) => return Err(RpcError::invalid_request("`params` must be an object or an array")),
        };
        return match id {
            IdMember::Absent => Ok(Message::Notification(Notification { jsonrpc: Version, method, params })),
            IdMember::Null => Err(RpcError::invalid_request("a request `id` must not be null")),
            IdMember::Present(id) => Ok(Message::Request(Request { jsonrpc: Version, id, method, params })),
        };
    }
    match (object.remove("result"), object.remove("error")) {
        (Some(_), Some(_)) => {
            Err(RpcError::invalid_request("a response carries `result` or `error`, not both"))
        }
        (Some(result), None) => match id {
            IdMember::Present(id) => Ok(Message::Response(Response::result(id, result))),
            _ => Err(RpcError::invalid_request("a result response needs an `id`")),
        },
        (None, Some(error)) => {
            let error = error_object(error)?;
            let id = match id {
                IdMember::Present(id) => Some(id),
                IdMember::Absent | IdMember::Null => None,
            };
            Ok(Message::Response(Response::error(id, error)))
        }
        (None, None) => Err(RpcError::invalid_request("a message needs `method`, `result` or `error`")),
    }
}

fn error_object(error: Value) -> Result<RpcError, RpcError> {
    let Value::Object(mut error) = error else {
        return Err(RpcError::invalid_request("`error` must be an object"));
    };
    let code = error
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| RpcError::invalid_request("`error.code` must be an integer"))?;
    let message = match error.remove("message") {
        Some(Value::String(message)) => message,
        _ => return Err(RpcError::invalid_request("`error.message` must be a string")),
    };
    let data = error.remove("data").filter(|data| !data.is_null());
    Ok(RpcError { code, message, data })
}

/// Writes a message. These types hold only strings, integers and JSON
/// values, whose serialisation cannot fail; the fallback keeps the
/// signature infallible without a panic path.
fn to_bytes<T: Serialize + ?Sized>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"unserialisable message"}}"#.to_vec()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<Message, RpcError> {
        parse_message(value.to_string().as_bytes())
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let request = parse(json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}})).unwrap();
        assert_eq!(request, Message::Request(Request::new(7u64, "tools/list", Some(json!({})))));
        let notification = parse(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).unwrap();
        assert_eq!(notification, Message::Notification(Notification::new("notifications/initialized", None)));
        let result = parse(json!({"jsonrpc":"2.0","id":"a","result":{"ok":true}})).unwrap();
        assert_eq!(result, Message::Response(Response::result("a".into(), json!({"ok": true}))));
        let error = parse(json!({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no"}})).unwrap();
        assert_eq!(error, Message::Response(Response::error(None, RpcError::invalid_request("no"))));
    }

    #[test]
    fn batches_are_reported_not_executed() {
        let batch = parse(json!([{"jsonrpc":"2.0","id":1,"method":"ping"}])).unwrap();
        assert!(matches!(batch, Message::Batch(items) if items.len() == 1));
    }

    #[test]
    fn malformed_messages_are_parse_or_invalid_request_errors() {
        assert_eq!(parse_message(b"{nope").unwrap_err().code, PARSE_ERROR);
        for bad in [
            json!(42),
            json!({"id":1,"method":"ping"}),
            json!({"jsonrpc":"1.0","id":1,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":true,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1,"method":3}),
            json!({"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}),
            json!({"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}),
            json!({"jsonrpc":"2.0","result":1}),
            json!({"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}),
            json!({"jsonrpc":"2.0","id":1}),
        ] {
            assert_eq!(parse(bad.clone()).unwrap_err().code, INVALID_REQUEST, "{bad}");
        }
    }

    #[test]
    fn serialisers_write_the_exact_wire_shape() {
        let ok = Response::result(Id::from(3u64), json!({"a": 1}));
        assert_eq!(String::from_utf8(ok.to_bytes()).unwrap(), r#"{"jsonrpc":"2.0","id":3,"result":{"a":1}}"#);
        let err = Response::error(Some("x".into()), RpcError::method_not_found("nope").with_data(json!(1)));
        assert_eq!(
            String::from_utf8(err.to_bytes()).unwrap(),
            r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"method `nope` not found","data":1}}"#
        );
        let anonymous = Response::error(None, RpcError::parse_error("bad"));
        assert_eq!(
            String::from_utf8(anonymous.to_bytes()).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"bad"}}"#
        );
        let request = Request::new(1u64, "ping", None);
        assert_eq!(
            String::from_utf8(request.to_bytes()).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
        );
    }

    #[test]
    fn ids_keep_their_json_form() {
        let Message::Request(request) = parse(json!({"jsonrpc":"2.0","id":"1","method":"ping"})).unwrap()
        else {
            panic!("not a request")
        };
        assert_eq!(request.id, Id::String("1".into()));
        assert_ne!(request.id, Id::from(1u64));
        assert_eq!(Id::from(1u64).to_string(), "1");
        assert_eq!(Id::from("1").to_string(), "\"1\"");
    }
}
