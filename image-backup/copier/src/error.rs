//! The crate's error type, classified by [`ErrorKind`] for exit codes and retry decisions.

use crate::auth::CredentialsError;
use crate::digest::Digest;
use crate::naming::NamingError;
use crate::reference::ReferenceError;

/// Everything a copy can fail with. Messages name the registry, repository or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("authentication to {registry} failed: {detail}")]
    Auth { registry: String, detail: String },
    #[error("{what} not found in {registry}/{repository}")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: String,
    },
    #[error("{registry}: invalid manifest {reference}: {reason}")]
    InvalidManifest {
        registry: String,
        reference: String,
        reason: String,
    },
    #[error("{method} {url}: {source}")]
    Transport {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: registry answered {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("upload to {repository} failed: {reason}")]
    Upload { repository: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Coarse classes of failure: what a caller (or a CLI exit code) needs to tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A reference, option or file the caller gave is wrong; retrying will not help.
    InvalidInput,
    /// The registry refused the credentials (or their absence).
    Auth,
    /// The image, tag or blob does not exist.
    NotFound,
    /// Network failure, server error, corrupted or unexpected content.
    Transfer,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Reference(_)
            | Error::Naming(_)
            | Error::Credentials(_)
            | Error::InvalidInput(_)
            | Error::Client(_) => ErrorKind::InvalidInput,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::DigestMismatch { .. }
            | Error::InvalidManifest { .. }
            | Error::Transport { .. }
            | Error::Status { .. }
            | Error::Upload { .. } => ErrorKind::Transfer,
        }
    }

    /// Whether trying the same operation again may succeed: connection failures, timeouts,
    /// 429 and 5xx. Corrupted content is not retried: the source would serve the same bytes.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => {
                !source.is_builder() && !source.is_redirect() && !source.is_decode()
            }
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
