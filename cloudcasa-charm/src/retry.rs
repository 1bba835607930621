//! Retrying inside the hook, within a bounded time.
//!
//! An operation (apply, remove, a read) runs as attempts. Each attempt replays the whole
//! operation from its first request: every request is idempotent (server-side apply, delete
//! tolerating 404), and replaying from the top recovers from the namespace disappearing or
//! terminating in the middle of an attempt. Between attempts the wait doubles up to a
//! ceiling; the whole operation, waits and requests, ends within [`RetryPolicy::budget`].

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::Status;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::outcome::{Cause, ClusterError, Forbidden, Outcome, Step, Verb};

/// How long and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// Longest time one operation may take, attempts and waits included. Juju runs one
    /// hook at a time per unit, so this also bounds how long other hooks wait.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// Long enough to ride out an API server restart or a namespace finishing its deletion,
    /// short enough that a dead cluster leaves the hook within a minute.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            budget: Duration::from_secs(60),
        }
    }
}

/// Why one attempt stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 403: reported as [`Outcome::Forbidden`], not retried.
    Forbidden(Forbidden),
    /// 404: callers that expect it handle it; otherwise retried like [`Failure::Transient`].
    NotFound(Step, Box<Status>),
    /// May pass: retried.
    Transient(Step, Cause),
    /// Will not pass: reported at once.
    Permanent(Step, Cause),
}

impl Failure {
    fn classify(step: Step, error: kube::Error) -> Self {
        let kube::Error::Api(status) = error else {
            return match error {
                // Connection refused or reset, TLS handshakes, timeouts of the HTTP stack.
                kube::Error::HyperError(_)
                | kube::Error::Service(_)
                | kube::Error::ReadEvents(_) => Self::Transient(step, Cause::Client(error)),
                _ => Self::Permanent(step, Cause::Client(error)),
            };
        };
        match status.code {
            // Creating objects in a terminating namespace is also a 403, told apart by its
            // cause; it passes once the namespace is gone.
            403 if terminating_namespace(&status) => {
                let namespace = step.namespace.clone().unwrap_or_default();
                Self::Transient(step, Cause::NamespaceTerminating(namespace))
            }
            403 => Self::Forbidden(Forbidden {
                step,
                message: status.message,
            }),
            404 => Self::NotFound(step, status),
            408 | 409 | 429 | 500..=599 => Self::Transient(step, Cause::Api(status)),
            _ => Self::Permanent(step, Cause::Api(status)),
        }
    }
}

fn terminating_namespace(status: &Status) -> bool {
    status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .any(|c| c.reason == "NamespaceTerminating")
}

/// One operation's requests, all bounded by the operation's deadline.
pub(crate) struct Requests<'a> {
    field_manager: &'a str,
    deadline: Instant,
}

impl Requests<'_> {
    /// Server-side apply of `object`, taking over fields other managers set (the original
    /// charm created the objects with plain creates and patches).
    pub(crate) async fn apply<K>(&self, api: &Api<K>, name: &str, object: &K) -> Result<K, Failure>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        let params = PatchParams::apply(self.field_manager).force();
        let step = step::<K>(Verb::Apply, api, name);
        self.call(step, api.patch(name, &params, &Patch::Apply(object)))
            .await
    }

    /// Reads an object; `None` if there is none.
    pub(crate) async fn get<K>(&self, api: &Api<K>, name: &str) -> Result<Option<K>, Failure>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        match self
            .call(step::<K>(Verb::Get, api, name), api.get(name))
            .await
        {
            Ok(object) => Ok(Some(object)),
            Err(Failure::NotFound(..)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Deletes an object; `false` if there was none.
    pub(crate) async fn delete<K>(&self, api: &Api<K>, name: &str) -> Result<bool, Failure>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        let step = step::<K>(Verb::Delete, api, name);
        match self
            .call(step, api.delete(name, &DeleteParams::default()))
            .await
        {
            Ok(_) => Ok(true),
            Err(Failure::NotFound(..)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn call<T>(
        &self,
        step: Step,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        tracing::debug!(%step, "kubernetes request");
        match tokio::time::timeout_at(self.deadline, request).await {
            Err(_elapsed) => Err(Failure::Transient(step, Cause::TimedOut)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failure::classify(step, error)),
        }
    }
}

fn step<K: kube::Resource<DynamicType = ()>>(verb: Verb, api: &Api<K>, name: &str) -> Step {
    Step {
        verb,
        kind: K::kind(&()).into_owned(),
        namespace: api.namespace().map(str::to_owned),
        name: name.to_owned(),
    }
}

/// Runs `attempt` until it succeeds, is refused, fails for good, or the budget runs out.
pub(crate) async fn retrying<T>(
    policy: &RetryPolicy,
    field_manager: &str,
    mut attempt: impl AsyncFnMut(&Requests<'_>) -> Result<Outcome<T>, Failure>,
) -> Result<Outcome<T>, ClusterError> {
    let start = Instant::now();
    let requests = Requests {
        field_manager,
        deadline: start + policy.budget,
    };
    let mut delay = policy.first_delay;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (step, cause) = match attempt(&requests).await {
            Ok(outcome) => return Ok(outcome),
            Err(Failure::Forbidden(forbidden)) => return Ok(Outcome::Forbidden(forbidden)),
            Err(Failure::Permanent(step, cause)) => {
                return Err(ClusterError::Rejected { step, cause });
            }
            Err(Failure::NotFound(step, status)) => (step, Cause::Api(status)),
            Err(Failure::Transient(step, cause)) => (step, cause),
        };
        let now = Instant::now();
        if now + delay >= requests.deadline {
            return Err(ClusterError::Unavailable {
                step,
                cause,
                attempts,
                elapsed: now - start,
            });
        }
        tracing::warn!(%step, %cause, attempt = attempts, "kubernetes request failed, retrying in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(policy.max_delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: u16, reason: &str) -> Failure {
        classify_status(Status::failure("message", reason).with_code(code))
    }

    fn classify_status(status: Status) -> Failure {
        let step = Step::new(
            Verb::Apply,
            "ServiceAccount",
            Some("cloudcasa-io"),
            "cloudcasa-io",
        );
        Failure::classify(step, kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn forbidden_is_refusal_unless_namespace_is_terminating() {
        assert!(
            matches!(classify(403, "Forbidden"), Failure::Forbidden(f) if f.message == "message")
        );
        let status: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "unable to create new content in namespace cloudcasa-io",
            "details": {"causes": [{
                "reason": "NamespaceTerminating", "field": "metadata.namespace",
                "message": "namespace cloudcasa-io is being terminated",
            }]},
        }))
        .unwrap();
        let failure = classify_status(status);
        assert!(matches!(
            failure,
            Failure::Transient(_, Cause::NamespaceTerminating(ns)) if ns == "cloudcasa-io"
        ));
    }

    #[test]
    fn server_trouble_is_transient_and_bad_requests_are_not() {
        for code in [408, 409, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(code, ""), Failure::Transient(..)),
                "{code}"
            );
        }
        for code in [400, 401, 405, 415, 422] {
            assert!(
                matches!(classify(code, ""), Failure::Permanent(..)),
                "{code}"
            );
        }
        assert!(matches!(classify(404, "NotFound"), Failure::NotFound(..)));
    }
}
