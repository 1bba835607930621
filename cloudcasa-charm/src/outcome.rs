//! What an operation on the cluster came to: done, refused for a reason the operator must fix
//! ([`Outcome`]), or failed ([`ClusterError`]).
//!
//! Refusals are outcomes rather than errors because the charm reports them as Blocked and
//! carries on; errors are what is left once retrying inside the hook has run out of time.

use std::fmt;
use std::time::Duration;

use kube::core::Status;

use crate::image::PodImageError;
use crate::owner::Owner;

/// The result of an operation that talked to the API server successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// It did what was asked.
    Done(T),
    /// The API server refused (403): the charm lacks permissions, usually because the
    /// application was deployed without `--trust`.
    Forbidden(Forbidden),
    /// The agent's objects belong to another Juju application (they are cluster-wide
    /// singletons); nothing was changed.
    OwnedByOther(Owner),
}

/// A request the API server refused with 403 Forbidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    /// The refused request.
    pub step: Step,
    /// The API server's message (names the user and the missing permission).
    pub message: String,
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} forbidden: {}", self.step, self.message)
    }
}

/// A failure retrying could not fix in the time given.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Every attempt failed for reasons that may pass (API server down, 5xx, timeouts, the
    /// namespace still being deleted) until the retry budget ran out. The next hook may succeed.
    #[error("{step}: {cause} (gave up after {attempts} attempts in {elapsed:?})")]
    Unavailable {
        /// The request of the last attempt that failed.
        step: Step,
        /// Why it failed.
        cause: Cause,
        /// Attempts made.
        attempts: u32,
        /// Time spent, waits included.
        elapsed: Duration,
    },
    /// The API server rejected a request in a way that retrying will not change (400, 401,
    /// 422: an admission webhook or an API server that does not accept the objects).
    #[error("{step}: {cause}")]
    Rejected {
        /// The rejected request.
        step: Step,
        /// The API server's answer.
        cause: Cause,
    },
    /// The charm's own pod does not say which image the agent should run.
    #[error("finding the agent image: {0}")]
    CharmImage(#[from] PodImageError),
}

impl ClusterError {
    /// Whether a later hook may succeed without the operator doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The API server answered with an error status.
    #[error("{} {}: {}", .0.code, .0.reason, .0.message)]
    Api(Box<Status>),
    /// No usable answer: connection, TLS, or decoding trouble.
    #[error("{0}")]
    Client(#[source] kube::Error),
    /// The object was expected to exist and does not.
    #[error("not found")]
    NotFound,
    /// No answer before the retry budget ran out.
    #[error("no answer within the time allowed")]
    TimedOut,
    /// The namespace is being deleted (a `remove` shortly before); objects cannot be
    /// created in it until it is gone.
    #[error("namespace {0} is still being deleted")]
    NamespaceTerminating(String),
}

/// A request to the API server, for messages: `apply Deployment cloudcasa-io/cloudcasa-kubeagent-manager`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was done.
    pub verb: Verb,
    /// Object kind.
    pub kind: String,
    /// Namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

/// The requests this crate makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Server-side apply.
    Apply,
    /// Read.
    Get,
    /// Delete.
    Delete,
}

impl Step {
    pub(crate) fn new(verb: Verb, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            verb,
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.verb {
            Verb::Apply => "apply",
            Verb::Get => "get",
            Verb::Delete => "delete",
        };
        write!(f, "{verb} {} ", self.kind)?;
        if let Some(namespace) = &self.namespace {
            write!(f, "{namespace}/")?;
        }
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_request_and_the_answer() {
        let step = Step::new(Verb::Apply, "Deployment", Some("cloudcasa-io"), "agent");
        assert_eq!(step.to_string(), "apply Deployment cloudcasa-io/agent");
        let err = ClusterError::Unavailable {
            step: Step::new(Verb::Delete, "Namespace", None, "cloudcasa-io"),
            cause: Cause::Api(Box::new(
                Status::failure("etcdserver: request timed out", "InternalError").with_code(500),
            )),
            attempts: 4,
            elapsed: Duration::from_secs(7),
        };
        assert_eq!(
            err.to_string(),
            "delete Namespace cloudcasa-io: 500 InternalError: etcdserver: request timed out \
             (gave up after 4 attempts in 7s)"
        );
        assert!(err.is_transient());
    }
}
