//! The wrappers as dropshot extractors (feature `endpoints`): each reads
//! its part of the request and keeps the outcome, success or [`ApiError`],
//! for the handler.

use std::time::Instant;

use dropshot::{
    ApiEndpointBodyContentType, ExclusiveExtractor, ExtractorMetadata, HttpError, Query, RequestContext,
    ServerContext, SharedExtractor, TypedBody,
};
use http_body_util::BodyExt as _;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{Checked, JsonBody, QueryParams, RawJsonBody, parse_json, parse_query};
use crate::error::{ApiError, ErrorCode};

fn content_type_error(parts: &http::request::Parts) -> Option<ApiError> {
    let Some(value) = parts.headers.get(http::header::CONTENT_TYPE) else {
        return Some(
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "a JSON body needs `Content-Type: application/json`, and the request has none",
            )
            .at_parameter("content-type"),
        );
    };
    let Ok(value) = value.to_str() else {
        return Some(
            ApiError::new(ErrorCode::UnsupportedMediaType, "content type is not valid text")
                .at_parameter("content-type"),
        );
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if mime == "application/json" {
        None
    } else {
        Some(
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("expected content type `application/json`, got `{mime}`"),
            )
            .at_parameter("content-type"),
        )
    }
}

async fn read_json_body<T, C>(
    rqctx: &RequestContext<C>,
    request: hyper::Request<dropshot::Body>,
) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    C: ServerContext,
{
    parse_json(&read_json_bytes(rqctx, request).await?)
}

/// Reads a JSON body's bytes (content type and size checked, not parsed).
async fn read_json_bytes<C: ServerContext>(
    rqctx: &RequestContext<C>,
    request: hyper::Request<dropshot::Body>,
) -> Result<Vec<u8>, ApiError> {
    let limit = rqctx.request_body_max_bytes();
    let (parts, body) = request.into_parts();
    if let Some(error) = content_type_error(&parts) {
        return Err(error);
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    // Read with a limit of our own, whose error is a type, rather than
    // dropshot's, which says "too large" only in its message.
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(error) => {
            Err(ApiError::new(ErrorCode::InvalidRequest, format!("error reading the request body: {error}")))
        }
    }
}
#[async_trait::async_trait]
impl<T> ExclusiveExtractor for RawJsonBody<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(
        rqctx: &RequestContext<C>,
        request: hyper::Request<dropshot::Body>,
    ) -> Result<RawJsonBody<T>, HttpError> {
        let started = Instant::now();
        let inner = read_json_bytes(rqctx, request).await;
        Ok(RawJsonBody { inner, started, _schema: std::marker::PhantomData })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <TypedBody<T> as ExclusiveExtractor>::metadata(content_type)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge, format!("request body is larger than the limit of {limit} bytes"))
}

#[async_trait::async_trait]
impl<T> ExclusiveExtractor for JsonBody<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(
        rqctx: &RequestContext<C>,
        request: hyper::Request<dropshot::Body>,
    ) -> Result<JsonBody<T>, HttpError> {
        let started = Instant::now();
        let inner = read_json_body(rqctx, request).await;
        Ok(JsonBody { inner, started, elapsed: started.elapsed() })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <TypedBody<T> as ExclusiveExtractor>::metadata(content_type)
    }
}

#[async_trait::async_trait]
impl<T> SharedExtractor for QueryParams<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(rqctx: &RequestContext<C>) -> Result<QueryParams<T>, HttpError> {
        let query = rqctx.request.uri().query().unwrap_or_default();
        Ok(QueryParams { inner: parse_query(query) })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Query<T> as SharedExtractor>::metadata(content_type)
    }
}

#[async_trait::async_trait]
impl<E> SharedExtractor for Checked<E>
where
    E: SharedExtractor + NamedParameters + 'static,
{
    async fn from_request<C: ServerContext>(rqctx: &RequestContext<C>) -> Result<Checked<E>, HttpError> {
        let inner = E::from_request(rqctx).await.map_err(|e| {
            let error = ApiError::new(ErrorCode::InvalidParameter, e.external_message.clone());
            match failed_parameter(&E::parameter_names(), &e.external_message) {
                Some(name) => error.at_parameter(name),
                None => error,
            }
        });
        Ok(Checked { inner })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        E::metadata(content_type)
    }
}

/// Extractors whose parameters are the properties of one schema (path
/// and header parameters), so a failure can name the parameter.
pub trait NamedParameters {
    /// The parameters' names, as the request spells them.
    fn parameter_names() -> Vec<String>;
}

fn property_names<T: JsonSchema>() -> Vec<String> {
    let root = schemars::r#gen::SchemaGenerator::default().into_root_schema_for::<T>();
    root.schema.object.map(|o| o.properties.keys().cloned().collect()).unwrap_or_default()
}

impl<T: JsonSchema + DeserializeOwned + Send + Sync + 'static> NamedParameters for dropshot::Path<T> {
    fn parameter_names() -> Vec<String> {
        property_names::<T>()
    }
}

impl<T: JsonSchema + DeserializeOwned + Send + Sync + 'static> NamedParameters for dropshot::Header<T> {
    fn parameter_names() -> Vec<String> {
        property_names::<T>()
    }
}

/// The parameter a failed path or header extraction is about: the one the
/// message names, or the extractor's only parameter.
fn failed_parameter(names: &[String], message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    names
        .iter()
        .find(|name| lower.contains(&name.to_ascii_lowercase()))
        .or(if names.len() == 1 { names.first() } else { None })
        .cloned()
}
