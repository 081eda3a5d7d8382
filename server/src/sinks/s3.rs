//! S3 (or any S3-compatible store): gzipped NDJSON objects, partitioned
//! the Hive way for Athena, written with the `object_store` crate (SigV4,
//! AWS's credential chain, path- or virtual-hosted-style).
//!
//! ```text
//! <prefix>tenant=<tenant>/date=<YYYY-MM-DD>/hour=<HH>/<from seq + 1, 20 digits>-<from checkpoint, 20 digits>.ndjson.gz
//! ```
//!
//! One line per event (the event's JSON, as every sink receives it). An
//! object is one `PUT`: it exists whole or not at all. Its name comes from
//! where the batch starts in the log — the sink's cursor before it — and
//! its partition from the time of the entry at that cursor (entry 1's for
//! a tenant's first object), so a batch sent again after a timeout or a
//! crash lands under the same name and replaces the first attempt instead
//! of duplicating it. An object's entries are therefore never older than
//! its partition's hour; they may be newer (a batch that spans hours).

use std::time::Duration;

use lictor_api::integrations::S3Sink;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStoreExt as _, PutPayload};

use super::{BatchLimits, Destination, Outgoing, Refusal};

/// Largest object, before compression.
const MAX_OBJECT: usize = 64 << 20;

/// An S3 destination.
pub struct S3Destination {
    store: AmazonS3,
    prefix: String,
    max_batch: usize,
}

impl S3Destination {
    /// The destination `settings` describe; `roots` are the extra CAs the
    /// gateway trusts.
    pub fn new(settings: &S3Sink, roots: &crate::tls::OutboundRoots) -> Result<S3Destination, String> {
        let mut options = ClientOptions::new().with_timeout(Duration::from_secs(60)).with_user_agent(
            reqwest::header::HeaderValue::from_static(concat!("lictor/", env!("CARGO_PKG_VERSION"))),
        );
        if !roots.pem().is_empty() {
            for certificate in object_store::Certificate::from_pem_bundle(roots.pem())
                .map_err(|e| format!("CA file: {e}"))?
            {
                options = options.with_root_certificate(certificate);
            }
        }
        // Without keys of its own, the environment's AWS settings
        // (credentials, web identity, instance metadata).
        let builder = match settings.access_key_id {
            Some(_) => AmazonS3Builder::new(),
            None => AmazonS3Builder::from_env(),
        };
        let mut builder = builder
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            options = options.with_allow_http(endpoint.starts_with("http://"));
            // Virtual-hosted style names the bucket in the host, which
            // `object_store` expects the endpoint to carry already.
            let mut url = super::settings::url(endpoint, "endpoint")?;
            // An address cannot carry the bucket: path-style it is.
            let address = url
                .host_str()
                .is_some_and(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok());
            let path_style = settings.path_style || address;
            builder = builder.with_virtual_hosted_style_request(!path_style);
            let endpoint = match path_style {
                true => endpoint.trim_end_matches('/').to_string(),
                false => {
                    let host = format!("{}.{}", settings.bucket, url.host_str().unwrap_or_default());
                    url.set_host(Some(&host)).map_err(|e| format!("`endpoint`: {e}"))?;
                    url.as_str().trim_end_matches('/').to_string()
                }
            };
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(settings.secret_access_key.as_deref().unwrap_or_default());
        }
        // The sender retries with its own backoff, and records each failure.
        let retry = object_store::RetryConfig { max_retries: 0, ..Default::default() };
        let store = builder
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| format!("S3 settings: {e}"))?;
        Ok(S3Destination {
            store,
            prefix: settings.prefix.clone(),
            max_batch: usize::try_from(settings.max_batch).unwrap_or(1).max(1),
        })
    }

    /// The object a batch starting at `outgoing.from` is written to.
    pub fn key(prefix: &str, outgoing: &Outgoing<'_>) -> String {
        let at = outgoing.anchor.to_datetime();
        format!(
            "{prefix}tenant={}/date={}/hour={}/{:020}-{:020}.ndjson.gz",
            outgoing.tenant,
            at.format("%Y-%m-%d"),
            at.format("%H"),
            outgoing.from.seq + 1,
            outgoing.from.checkpoint_size,
        )
    }
}

#[async_trait::async_trait]
impl Destination for S3Destination {
    fn limits(&self) -> BatchLimits {
        BatchLimits { events: self.max_batch, bytes: MAX_OBJECT, per_event: 1 }
    }

    async fn deliver(&self, outgoing: &Outgoing<'_>) -> Result<(), Refusal> {
        let mut lines = Vec::with_capacity(outgoing.events.iter().map(|r| r.json.len() + 1).sum());
        for rendered in outgoing.events {
            lines.extend_from_slice(&rendered.json);
            lines.push(b'\n');
        }
        let body = super::gzip(&lines)?;
        let key = Self::key(&self.prefix, outgoing);
        let path = Path::parse(&key).map_err(|e| Refusal::transport(format!("object key `{key}`: {e}")))?;
        match self.store.put(&path, PutPayload::from(body)).await {
            Ok(_) => Ok(()),
            // Nothing S3 refuses is an event's fault: a bucket, a
            // credential or a network to fix, then the same object again.
            Err(error) => Err(Refusal::transport(format!("PUT {key}: {}", super::clip(&error.to_string())))),
        }
    }
}
