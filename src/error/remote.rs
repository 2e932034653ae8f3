//! A failure of the object store a replica lives on, in one sentence (no credential is ever
//! part of it).

use std::fmt;

/// Why the object store failed, as far as an operator can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteFailure {
    /// No answer: the endpoint is wrong, the server is down, or the network is.
    Unreachable,
    /// The server refused the credentials.
    Denied,
    /// The bucket does not exist.
    NoBucket,
    /// No credentials in the environment or the shared credentials file.
    NoCredentials,
    /// Anything else the server answered.
    Failed,
}

/// A failure of the object store, in one sentence (no credential is ever part of it).
#[derive(Clone, Debug)]
pub struct RemoteError {
    pub failure: RemoteFailure,
    pub url: String,
    pub detail: String,
}

impl RemoteError {
    pub fn kind(&self) -> &'static str {
        match self.failure {
            RemoteFailure::Unreachable => "remote_unreachable",
            RemoteFailure::Denied => "remote_denied",
            RemoteFailure::NoBucket => "remote_no_bucket",
            RemoteFailure::NoCredentials => "remote_no_credentials",
            RemoteFailure::Failed => "remote_failed",
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (url, detail) = (&self.url, &self.detail);
        match self.failure {
            RemoteFailure::Unreachable => write!(
                f,
                "the replica {url} could not be reached after several tries ({detail}); check the endpoint and that the server is running"
            ),
            RemoteFailure::Denied => write!(
                f,
                "the server of {url} refused the credentials it was given ({detail})"
            ),
            RemoteFailure::NoBucket => write!(
                f,
                "the bucket of {url} does not exist on the server; create it first ({detail})"
            ),
            RemoteFailure::NoCredentials => write!(f, "no credentials for {url}: {detail}"),
            RemoteFailure::Failed => write!(f, "the server of {url} failed: {detail}"),
        }
    }
}
