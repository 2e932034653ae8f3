//! RFC 3161 section 3.4: a time-stamp query over HTTP.

use std::time::Duration;

use super::{Request, TimestampError, seconds};
use crate::error::Result;

/// The media type of a `.tsq` (RFC 3161 section 3.4).
pub const CONTENT_TYPE_QUERY: &str = "application/timestamp-query";
/// The media type of a `.tsr` (RFC 3161 section 3.4).
pub const CONTENT_TYPE_REPLY: &str = "application/timestamp-reply";
/// The largest response read: a token with a long chain is a few tens of KiB.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// POSTs `req` to the TSA at `url` (`application/timestamp-query`) and returns the body of its
/// `application/timestamp-reply`: the `.tsr` for [`super::accept_response`]. Plain HTTP only;
/// `timeout` bounds the whole exchange, connecting included; no redirect is followed; at
/// most [`MAX_RESPONSE_BYTES`] are read. Proxies are taken from the usual environment
/// variables (`HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
pub fn fetch(url: &str, req: &Request, timeout: Duration) -> Result<Vec<u8>> {
    let fail = |detail: String| TimestampError::Http {
        url: url.to_string(),
        detail,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("custodia/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("Content-Type", CONTENT_TYPE_QUERY)
        .header("Accept", CONTENT_TYPE_REPLY)
        .send(req.der.as_slice())
        .map_err(|e| fail(describe(e, timeout)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("it answered HTTP {status}")).into());
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    // Some TSAs label replies `application/timestamp-response`; anything else is not a reply.
    if let Some(ct) = &content_type
        && ct != CONTENT_TYPE_REPLY
        && ct != "application/timestamp-response"
    {
        let ct: String = ct.chars().take(80).collect();
        return Err(fail(format!("it answered with {ct:?}, not {CONTENT_TYPE_REPLY}")).into());
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| fail(describe(e, timeout)))?;
    Ok(body)
}

fn describe(e: ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("it did not answer within {}", seconds(timeout)),
        ureq::Error::BodyExceedsLimit(_) => {
            format!("its answer is larger than {MAX_RESPONSE_BYTES} bytes")
        }
        ureq::Error::ConnectionFailed => "the connection failed".to_string(),
        ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused".to_string()
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            format!("it did not answer within {}", seconds(timeout))
        }
        ureq::Error::Tls(_) => {
            "this custodia speaks plain HTTP only; use the TSA's http:// address".to_string()
        }
        other => other.to_string(),
    }
}
