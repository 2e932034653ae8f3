//! The object store a replica lives on: an S3-compatible bucket reached with `object_store`,
//! driven from plain threads through one small current-thread tokio runtime.
//!
//! Every write is create-only (`If-None-Match: *`); failures are sorted into the few causes
//! an operator can act on (unreachable, credentials refused, no bucket), each one sentence.
//! Requests are retried with backoff a bounded number of times, then given up.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use crate::error::{Error, RemoteError, RemoteFailure, Result};

use super::credentials;

/// Where a replica is: `s3://BUCKET/PREFIX`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

/// Parses `s3://BUCKET[/PREFIX]`.
pub fn parse_url(url: &str) -> Result<Location> {
    let bad = || {
        Error::BadReplica(format!(
            "{url:?} is not a replica address; give s3://BUCKET/PREFIX"
        ))
    };
    let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let prefix = prefix.trim_matches('/');
    let prefix_ok = prefix.split('/').all(|part| {
        prefix.is_empty()
            || (!part.is_empty()
                && part != "."
                && part != ".."
                && part.chars().all(|c| !c.is_control()))
    });
    if !bucket_ok || !prefix_ok {
        return Err(bad());
    }
    Ok(Location {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// One object as a listing shows it: its name under the replica's prefix, size and ETag.
#[derive(Clone, Debug)]
pub struct Listed {
    pub name: String,
    pub size: u64,
    pub etag: String,
}

/// The outcome of a create-only put.
pub enum Put {
    Created {
        etag: String,
    },
    /// An object of that name exists; nothing was written.
    Exists,
}

/// How to reach the server: the endpoint (for anything but AWS itself) and region.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// A connection to one replica's bucket and prefix.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    prefix: String,
    url: String,
}

/// Requests are retried three times, backing off from 200 ms to 2 s, and given up after
/// 20 s: a dead server costs seconds, not minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

impl Remote {
    /// Connects (lazily: nothing is sent yet) with credentials from the environment or a
    /// profile of the shared credentials file (`credentials.rs`), and from nowhere else.
    pub fn connect(url: &str, at: &Endpoint) -> Result<Remote> {
        let location = parse_url(url)?;
        let creds = credentials::resolve(&|name| std::env::var(name).ok()).map_err(|missing| {
            Error::Remote(RemoteError {
                failure: RemoteFailure::NoCredentials,
                url: url.to_owned(),
                detail: missing.to_string(),
            })
        })?;
        // Given explicitly, so object_store never asks a cloud metadata service for them:
        // custodia never reaches beyond the endpoint it was given.
        // `new`, not `from_env`: every setting is given here, so nothing else in the
        // environment (a session token beside profile keys) is mixed in.
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_access_key_id(creds.access_key_id)
            .with_secret_access_key(creds.secret_access_key)
            .with_retry(retry())
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(token) = creds.session_token {
            builder = builder.with_token(token);
        }
        let region = at
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        builder = builder.with_region(region);
        if let Some(endpoint) = &at.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| classify(url, &e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("the replica's I/O runtime"))?;
        Ok(Remote {
            store: Arc::new(store),
            runtime,
            prefix: location.prefix,
            url: url.to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn error(&self, e: &object_store::Error) -> Error {
        classify(&self.url, e)
    }

    /// Every object under the replica's prefix (and `sub`, e.g. `manifests`).
    pub fn list(&self, sub: &str) -> Result<Vec<Listed>> {
        use futures_util::StreamExt;
        let base = self.path(sub);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        self.runtime.block_on(async {
            let mut out = Vec::new();
            let mut stream = self.store.list(Some(&base));
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| self.error(&e))?;
                let full = meta.location.to_string();
                let name = full.strip_prefix(&strip).unwrap_or(&full).to_owned();
                out.push(Listed {
                    name,
                    size: meta.size,
                    etag: clean_etag(meta.e_tag.as_deref()),
                });
            }
            Ok(out)
        })
    }

    /// Stores `bytes` under `name` unless an object of that name exists (`If-None-Match: *`).
    pub fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<Put> {
        let path = self.path(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let done = self
            .runtime
            .block_on(self.store.put_opts(&path, PutPayload::from(bytes), opts));
        match done {
            Ok(r) => Ok(Put::Created {
                etag: clean_etag(r.e_tag.as_deref()),
            }),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Put::Exists),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// An object's bytes; `None` when there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                // `Vec::from` takes the buffer over when nothing else holds it, where
                // `to_vec` would copy a whole volume.
                Ok(r) => Ok(Some(Vec::from(
                    r.bytes().await.map_err(|e| self.error(&e))?,
                ))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(&e)),
            }
        })
    }
}

/// ETags come quoted; an absent one is empty.
fn clean_etag(etag: Option<&str>) -> String {
    etag.unwrap_or("").trim_matches('"').to_owned()
}

/// Sorts an object_store error into what an operator can act on, with the innermost
/// cause as the detail (one line).
fn classify(url: &str, e: &object_store::Error) -> Error {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut innermost = chain.clone();
    while let Some(s) = source {
        innermost = s.to_string();
        chain.push_str(" / ");
        chain.push_str(&innermost);
        source = s.source();
    }
    let has = |needle: &str| chain.contains(needle);
    let failure = match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => RemoteFailure::Denied,
        _ if has("NoSuchBucket") => RemoteFailure::NoBucket,
        _ if has("InvalidAccessKeyId")
            || has("SignatureDoesNotMatch")
            || has("AccessDenied")
            || has("403 Forbidden") =>
        {
            RemoteFailure::Denied
        }
        _ if has("error sending request")
            || has("onnection refused")
            || has("timed out")
            || has("dns error")
            || has("connect") =>
        {
            RemoteFailure::Unreachable
        }
        _ => RemoteFailure::Failed,
    };
    let detail: String = innermost
        .split(['\n', '\r'])
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    Error::Remote(RemoteError {
        failure,
        url: url.to_owned(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_url("s3://evidence-bucket/org/archive-1/").unwrap(),
            Location {
                bucket: "evidence-bucket".into(),
                prefix: "org/archive-1".into()
            }
        );
        assert_eq!(parse_url("s3://bkt").unwrap().prefix, "");
        for bad in [
            "http://x/y",
            "s3://",
            "s3://UPPER/x",
            "s3://bkt/a/../b",
            "s3://bkt/a//b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
