//! Errors of the Pebble client.

use std::path::PathBuf;
use std::time::Duration;

use super::ids::{ChangeId, InvalidId};

/// Everything that can go wrong talking to Pebble.
///
/// The variants follow what a charm needs to decide: [`Error::Connection`] means "Pebble is not
/// (yet) up, defer or wait for pebble-ready"; [`Error::Api`] is Pebble refusing a request;
/// [`Error::Path`] is a per-file failure; [`Error::ChangeFailed`] is an operation Pebble accepted
/// but could not carry out; [`Error::Timeout`] is a wait that ran out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket is missing, refuses connections, or the connection broke mid-request.
    #[error("cannot connect to Pebble at {socket}: {message}")]
    Connection {
        /// The unix socket the client talks to.
        socket: PathBuf,
        /// What went wrong, including the underlying I/O error.
        message: String,
    },

    /// Pebble answered with an error response (`"type": "error"`).
    #[error("Pebble API error {status_code} ({status}): {message}")]
    Api {
        /// HTTP status code, e.g. 400 or 404.
        status_code: u16,
        /// HTTP status text, e.g. "Bad Request".
        status: String,
        /// Pebble's error message.
        message: String,
        /// Pebble's error kind, e.g. `not-found`, `permission-denied`, `no-default-services`.
        kind: Option<String>,
    },

    /// A file operation failed for one path.
    #[error("{kind} - {message} (path {path})")]
    Path {
        /// The path inside the container.
        path: String,
        /// Pebble's error kind for the path.
        kind: PathErrorKind,
        /// Pebble's message.
        message: String,
    },

    /// An asynchronous change (start, stop, replan, exec ...) finished with an error.
    #[error("change {id} failed: {err}")]
    ChangeFailed {
        /// The change's id.
        id: ChangeId,
        /// The change's error text, as Pebble reports it.
        err: String,
    },

    /// Waiting for something (a change, a command, a response) took longer than allowed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the client waited.
        after: Duration,
    },

    /// A command run with [`Client::exec`](super::Client::exec) exited with a non-zero code.
    #[error("command {command:?} exited with code {exit_code}{}", output_excerpt(.stderr))]
    Exec {
        /// The command line.
        command: Vec<String>,
        /// The non-zero exit code.
        exit_code: i32,
        /// Captured standard output (empty when not captured).
        stdout: Vec<u8>,
        /// Captured standard error (empty when not captured).
        stderr: Vec<u8>,
    },

    /// Pebble's answer could not be understood (malformed JSON, missing fields, wrong type).
    #[error("unexpected response from Pebble for {request}: {message}")]
    Protocol {
        /// The request, e.g. `GET /v1/services`.
        request: String,
        /// What was wrong with the response.
        message: String,
    },

    /// The caller passed something Pebble would refuse, caught before sending it.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Reading the local source of a push, or writing the local target of a pull, failed.
    #[error("local I/O error while {context}: {source}")]
    LocalIo {
        /// What the client was doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A layer or plan is not valid YAML or breaks Pebble's layer rules.
    #[error("invalid layer: {0}")]
    Layer(String),
}

fn output_excerpt(stderr: &[u8]) -> String {
    const MAX: usize = 1024;
    if stderr.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&stderr[..stderr.len().min(MAX)]);
    let truncated = if stderr.len() > MAX {
        " [truncated]"
    } else {
        ""
    };
    format!(", stderr={:?}{truncated}", text.trim_end())
}

impl From<InvalidId> for Error {
    fn from(e: InvalidId) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

impl Error {
    /// True for errors meaning "Pebble is not reachable", which a charm usually handles by
    /// waiting for the next pebble-ready event.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }

    /// True if Pebble reported that the thing asked for does not exist (HTTP 404 or
    /// a `not-found` path error).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Api {
                status_code, kind, ..
            } => *status_code == 404 || kind.as_deref() == Some("not-found"),
            Error::Path { kind, .. } => *kind == PathErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Kinds of per-path errors Pebble reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathErrorKind {
    /// `not-found`
    NotFound,
    /// `permission-denied`
    PermissionDenied,
    /// `generic-file-error`
    GenericFileError,
    /// A kind this client does not know (newer Pebble).
    Other(String),
}

impl PathErrorKind {
    /// Parses Pebble's kind string.
    pub fn from_kind(kind: &str) -> Self {
        match kind {
            "not-found" => Self::NotFound,
            "permission-denied" => Self::PermissionDenied,
            "generic-file-error" | "" => Self::GenericFileError,
            other => Self::Other(other.to_string()),
        }
    }

    /// Pebble's kind string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NotFound => "not-found",
            Self::PermissionDenied => "permission-denied",
            Self::GenericFileError => "generic-file-error",
            Self::Other(other) => other,
        }
    }
}

impl std::fmt::Display for PathErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result with the Pebble [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads_and_box_into_charm_errors() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Path {
            path: "/x".into(),
            kind: PathErrorKind::NotFound,
            message: "stat /x: no such file or directory".into(),
        });
        assert_eq!(
            boxed.to_string(),
            "not-found - stat /x: no such file or directory (path /x)"
        );
    }

    #[test]
    fn a_bad_id_is_an_invalid_argument() {
        let bad = ChangeId::new("A/1").unwrap_err();
        assert_eq!(
            Error::from(bad).to_string(),
            "invalid argument: invalid change ID \"A/1\""
        );
    }
}
