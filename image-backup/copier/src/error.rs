//! The crate's error type, classified by [`ErrorKind`] for exit codes and retry decisions.
//!
//! A failed request says why in words an operator can act on ([`Cause`]): connection refused,
//! timed out after N s, TLS, DNS, or the HTTP status with the registry's error codes, instead
//! of reqwest's "error sending request for url".

use std::time::Duration;

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
    #[error("{method} {url}: {cause}")]
    Transport {
        method: String,
        url: String,
        cause: Cause,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{method} {url}: timed out after {}s sending data (the registry stopped reading or answering)",
        after.as_secs_f64()
    )]
    Stalled {
        method: String,
        url: String,
        after: Duration,
    },
    #[error("{method} {url}: registry answered HTTP {status} {}", status_detail(*status, body))]
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
            | Error::Stalled { .. }
            | Error::Status { .. }
            | Error::Upload { .. } => ErrorKind::Transfer,
        }
    }

    /// A failed request, with why it failed.
    pub(crate) fn transport(
        method: &str,
        url: impl ToString,
        source: reqwest::Error,
        timeouts: Timeouts,
    ) -> Self {
        Error::Transport {
            method: method.to_owned(),
            url: url.to_string(),
            cause: Cause::of(&source, timeouts),
            source,
        }
    }

    /// The host (and port) of the URL a failed request went to, for telling registries apart
    /// (Docker Hub's is `registry-1.docker.io`, its tokens' `auth.docker.io`).
    pub fn host(&self) -> Option<String> {
        let url = match self {
            Error::Transport { url, .. }
            | Error::Stalled { url, .. }
            | Error::Status { url, .. } => url,
            _ => return None,
        };
        let url = reqwest::Url::parse(url).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

    /// Whether a network step timed out: the registry is there but does not answer. Not
    /// retried in place (each try would hold the copy for another timeout); the caller
    /// decides when to try again.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                cause: Cause::TimedOut { .. },
                ..
            } | Error::Stalled { .. }
        )
    }

    /// Whether trying the same operation again may succeed: connection failures, timeouts,
    /// 429 and 5xx. Corrupted content is not retried: the source would serve the same bytes.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => {
                !source.is_builder() && !source.is_redirect() && !source.is_decode()
            }
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            Error::Stalled { .. } => true,
            _ => false,
        }
    }
}

/// Connect and read timeouts of a client, to say how long a request waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

/// Why a request failed: the part of reqwest's error chain that an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Nothing listens on the port, or a firewall rejects the connection.
    Refused,
    /// `step` (connecting, or waiting for data) took longer than `after`.
    TimedOut { step: &'static str, after: Duration },
    /// The connection was reset or closed by the other end.
    Closed(String),
    /// The registry's host name did not resolve.
    Dns(String),
    /// The TLS handshake or session failed (certificate, protocol).
    Tls(String),
    /// Anything else: the innermost error's message.
    Other(String),
}

impl Cause {
    pub(crate) fn of(error: &reqwest::Error, timeouts: Timeouts) -> Self {
        let chain: Vec<&(dyn std::error::Error + 'static)> =
            std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .collect();
        // `io::Error::source` skips the error it wraps (a rustls error, say): look inside.
        for e in &chain {
            let wrapped = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|i| i.downcast_ref::<rustls::Error>());
            if let Some(tls) = e.downcast_ref::<rustls::Error>().or(wrapped) {
                return Cause::Tls(tls.to_string());
            }
        }
        if error.is_timeout() {
            return if error.is_connect() {
                Cause::TimedOut {
                    step: "connecting",
                    after: timeouts.connect,
                }
            } else {
                Cause::TimedOut {
                    step: "waiting for data",
                    after: timeouts.read,
                }
            };
        }
        for e in &chain {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                match io.kind() {
                    ConnectionRefused => return Cause::Refused,
                    TimedOut => {
                        return Cause::TimedOut {
                            step: if error.is_connect() {
                                "connecting"
                            } else {
                                "waiting for data"
                            },
                            after: if error.is_connect() {
                                timeouts.connect
                            } else {
                                timeouts.read
                            },
                        };
                    }
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                        return Cause::Closed(io.to_string());
                    }
                    _ => {}
                }
            }
        }
        // hyper-util's connector names the failing step ("dns error") and wraps the cause.
        if let Some(at) = chain.iter().position(|e| e.to_string() == "dns error") {
            let detail = chain.get(at + 1).map(|e| e.to_string()).unwrap_or_default();
            return Cause::Dns(detail);
        }
        let innermost = chain.last().map(|e| e.to_string()).unwrap_or_default();
        if innermost.contains("connection closed") || innermost.contains("IncompleteMessage") {
            return Cause::Closed(innermost);
        }
        Cause::Other(innermost)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Refused => f.write_str("connection refused"),
            Cause::TimedOut { step, after } => {
                write!(f, "timed out after {}s {step}", after.as_secs_f64())
            }
            Cause::Closed(detail) => write!(f, "connection closed by the registry ({detail})"),
            Cause::Dns(detail) => write!(f, "DNS lookup failed: {detail}"),
            Cause::Tls(detail) => write!(f, "TLS: {detail}"),
            Cause::Other(detail) => f.write_str(detail),
        }
    }
}

/// `(Reason Phrase)` or `(Reason Phrase): body` when there is a body.
fn status_detail(status: u16, body: &str) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unknown status");
    if body.is_empty() {
        format!("({reason})")
    } else {
        format!("({reason}): {body}")
    }
}

/// The registry's error codes and messages from an error body (the distribution spec's
/// `{"errors": [{"code", "message"}]}`), else the body as it is.
pub(crate) fn registry_errors(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => parsed
            .errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{} ({})", e.code, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_codes_are_shown_instead_of_json() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}},{"code":"TOOMANYREQUESTS"}]}"#;
        assert_eq!(
            registry_errors(body),
            "MANIFEST_UNKNOWN (manifest unknown); TOOMANYREQUESTS"
        );
        assert_eq!(registry_errors("upstream gone"), "upstream gone");
    }

    #[test]
    fn causes_read_as_sentences() {
        let after = Duration::from_secs(10);
        assert_eq!(
            Cause::TimedOut {
                step: "connecting",
                after
            }
            .to_string(),
            "timed out after 10s connecting"
        );
        assert_eq!(Cause::Refused.to_string(), "connection refused");
    }
}
