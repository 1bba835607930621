//! From what a hook learnt to the unit's status, as one pure decision.
//!
//! The order is that of what the operator must do first: permissions (nothing works without
//! `juju trust`), a conflicting owner, then `clusterid`; then what passes on its own (API
//! trouble, the deployment coming up). Blocked always means "the operator has to act", and the
//! message says how.

use std::fmt;

use crate::agent_image::NoImage;
use crate::availability::Availability;
use crate::cluster::Applied;
use crate::cluster_id::{ClusterId, ClusterIdError};
use crate::objects::{DEPLOYMENT, NAMESPACE};
use crate::outcome::{ClusterError, Outcome};
use crate::resource::IMAGE_RESOURCE;

/// A unit status, as Juju shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The agent is deployed and available.
    Active,
    /// Something will pass without the operator: the message says what.
    Waiting(String),
    /// The operator must act: the message says how.
    Blocked(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Active => f.write_str("active"),
            Self::Waiting(message) => write!(f, "waiting: {message}"),
            Self::Blocked(message) => write!(f, "blocked: {message}"),
        }
    }
}

/// What [`crate::cluster::Cluster::apply`] returns.
pub type ApplyResult = Result<Outcome<Applied>, ClusterError>;

/// What [`crate::cluster::Cluster::availability`] returns.
pub type ReadResult = Result<Outcome<Availability>, ClusterError>;

/// What this hook learnt from the cluster. The variant also says who asked: only the leader
/// applies, other units only read.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    /// The leader applied the objects ([`crate::cluster::Cluster::apply`]).
    Applied(&'a ApplyResult),
    /// The leader found no image for the agent ([`crate::agent_image::find`]) and applied
    /// nothing: the deployment cannot be built without one.
    NoImage(&'a NoImage),
    /// A unit read the deployment ([`crate::cluster::Cluster::availability`]).
    Read(&'a ReadResult),
}

/// The unit's status for application `application`, given the `clusterid` option as parsed and
/// what the cluster said.
pub fn decide(
    application: &str,
    cluster_id: &Result<ClusterId, ClusterIdError>,
    report: Report<'_>,
) -> Status {
    let (leader, result) = match report {
        Report::NoImage(problem) => return no_image(application, cluster_id, problem),
        Report::Applied(result) => (
            true,
            result.as_ref().map(|outcome| match outcome {
                Outcome::Done(Applied::WithAgent(availability)) => {
                    Outcome::Done(Some(availability))
                }
                Outcome::Done(Applied::WithoutAgent) => Outcome::Done(None),
                Outcome::Forbidden(forbidden) => Outcome::Forbidden(forbidden.clone()),
                Outcome::OwnedByOther(owner) => Outcome::OwnedByOther(owner.clone()),
            }),
        ),
        Report::Read(result) => (
            false,
            result.as_ref().map(|outcome| match outcome {
                Outcome::Done(availability) => Outcome::Done(Some(availability)),
                Outcome::Forbidden(forbidden) => Outcome::Forbidden(forbidden.clone()),
                Outcome::OwnedByOther(owner) => Outcome::OwnedByOther(owner.clone()),
            }),
        ),
    };
    match &result {
        Ok(Outcome::Forbidden(_)) => return missing_permissions(application),
        Ok(Outcome::OwnedByOther(owner)) => {
            return Status::Blocked(format!(
                "namespace {NAMESPACE} belongs to {owner}: one CloudCasa agent per cluster"
            ));
        }
        _ => {}
    }
    if let Some(blocked) = unusable_cluster_id(application, cluster_id) {
        return blocked;
    }
    let availability = match result {
        Err(error) if error.is_transient() => {
            return Status::Waiting(format!("kubernetes API unavailable: {error}"));
        }
        Err(error) => return Status::Blocked(format!("kubernetes API error: {error}")),
        Ok(Outcome::Done(availability)) => availability,
        // Handled above.
        Ok(Outcome::Forbidden(_) | Outcome::OwnedByOther(_)) => None,
    };
    match availability {
        // The leader applied without the deployment although clusterid is valid: the caller
        // built the objects from an older config. The next hook corrects it.
        None => Status::Waiting(format!("deployment {DEPLOYMENT} not applied yet")),
        Some(Availability::Missing) if leader => {
            Status::Waiting(format!("deployment {DEPLOYMENT} not found"))
        }
        Some(Availability::Missing) => Status::Waiting(format!(
            "waiting for the leader to create deployment {DEPLOYMENT}"
        )),
        Some(Availability::Pending(pending)) => {
            Status::Waiting(format!("waiting for deployment {DEPLOYMENT}: {pending}"))
        }
        Some(Availability::Available) => Status::Active,
    }
}

fn missing_permissions(application: &str) -> Status {
    Status::Blocked(format!(
        "missing permissions: run juju trust {application} --scope=cluster"
    ))
}

fn unusable_cluster_id(
    application: &str,
    cluster_id: &Result<ClusterId, ClusterIdError>,
) -> Option<Status> {
    match cluster_id {
        Err(ClusterIdError::Empty) => Some(Status::Blocked(format!(
            "set clusterid: juju config {application} clusterid=<id from the CloudCasa console>"
        ))),
        Err(invalid) => Some(Status::Blocked(invalid.to_string())),
        Ok(_) => None,
    }
}

fn no_image(
    application: &str,
    cluster_id: &Result<ClusterId, ClusterIdError>,
    problem: &NoImage,
) -> Status {
    if problem.is_forbidden() {
        return missing_permissions(application);
    }
    if let Some(blocked) = unusable_cluster_id(application, cluster_id) {
        return blocked;
    }
    if problem.is_transient() {
        return Status::Waiting(problem.to_string());
    }
    Status::Blocked(format!(
        "{problem}: attach one with juju attach-resource {application} {IMAGE_RESOURCE}=<image>"
    ))
}

impl Status {
    /// As charm-core's status, with `note` (what an optional relation adds) after the message:
    /// `<message>; <note>`, or the note alone when Active, whose message is empty.
    pub fn noted(self, note: Option<&impl fmt::Display>) -> charm_core::Status {
        let with_note = |message: String| match note {
            None => message,
            Some(note) if message.is_empty() => note.to_string(),
            Some(note) => format!("{message}; {note}"),
        };
        match self {
            Status::Active => charm_core::Status::active(with_note(String::new())),
            Status::Waiting(message) => charm_core::Status::waiting(with_note(message)),
            Status::Blocked(message) => charm_core::Status::blocked(with_note(message)),
        }
    }
}

impl From<Status> for charm_core::Status {
    fn from(status: Status) -> Self {
        status.noted(None::<&String>)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::core::Status as ApiStatus;

    use super::*;
    use crate::agent_image::PodFailure;
    use crate::availability::Pending;
    use crate::image::PodImageError;
    use crate::outcome::{Cause, Forbidden, Step, Verb};
    use crate::owner::Owner;
    use crate::resource::ResourceError;

    fn id(value: &str) -> Result<ClusterId, ClusterIdError> {
        ClusterId::parse(value)
    }

    fn forbidden() -> Forbidden {
        Forbidden {
            step: Step::new(Verb::Apply, "Namespace", None, NAMESPACE),
            message: "namespaces \"cloudcasa-io\" is forbidden".into(),
        }
    }

    fn unavailable() -> ClusterError {
        ClusterError::Unavailable {
            step: Step::new(Verb::Apply, "Namespace", None, NAMESPACE),
            cause: Cause::Api(Box::new(
                ApiStatus::failure("boom", "InternalError").with_code(500),
            )),
            attempts: 3,
            elapsed: Duration::from_secs(2),
        }
    }

    fn rejected() -> ClusterError {
        ClusterError::Rejected {
            step: Step::new(Verb::Apply, "Deployment", Some(NAMESPACE), DEPLOYMENT),
            cause: Cause::Api(Box::new(
                ApiStatus::failure("denied by policy", "BadRequest").with_code(400),
            )),
        }
    }

    fn pending() -> Availability {
        Availability::Pending(Pending::Unavailable {
            available: 0,
            desired: 1,
        })
    }

    const SET_ID: &str =
        "set clusterid: juju config cloudcasa clusterid=<id from the CloudCasa console>";
    const TRUST: &str = "missing permissions: run juju trust cloudcasa --scope=cluster";
    const WAIT_DEPLOYMENT: &str =
        "waiting for deployment cloudcasa-kubeagent-manager: 0/1 replicas available";

    fn blocked(message: &str) -> Status {
        Status::Blocked(message.into())
    }

    fn waiting(message: &str) -> Status {
        Status::Waiting(message.into())
    }

    #[test]
    fn leader_table() {
        let other = Owner::new("prod", "cloudcasa").unwrap();
        let cases: Vec<(&str, Result<ClusterId, ClusterIdError>, ApplyResult, Status)> = vec![
            (
                "available",
                id("abc1"),
                Ok(Outcome::Done(Applied::WithAgent(Availability::Available))),
                Status::Active,
            ),
            (
                "pending",
                id("abc1"),
                Ok(Outcome::Done(Applied::WithAgent(pending()))),
                waiting(WAIT_DEPLOYMENT),
            ),
            (
                "empty id",
                id(""),
                Ok(Outcome::Done(Applied::WithoutAgent)),
                blocked(SET_ID),
            ),
            (
                "invalid id",
                id("abc-1"),
                Ok(Outcome::Done(Applied::WithoutAgent)),
                blocked(
                    r#"clusterid "abc-1" contains '-' at position 4: only letters and digits are allowed"#,
                ),
            ),
            (
                "forbidden beats empty id",
                id(""),
                Ok(Outcome::Forbidden(forbidden())),
                blocked(TRUST),
            ),
            (
                "forbidden",
                id("abc1"),
                Ok(Outcome::Forbidden(forbidden())),
                blocked(TRUST),
            ),
            (
                "owned by another application",
                id("abc1"),
                Ok(Outcome::OwnedByOther(other)),
                blocked(
                    "namespace cloudcasa-io belongs to application cloudcasa in model prod: one CloudCasa agent per cluster",
                ),
            ),
            (
                "empty id beats API trouble",
                id(""),
                Err(unavailable()),
                blocked(SET_ID),
            ),
            (
                "API unavailable",
                id("abc1"),
                Err(unavailable()),
                waiting(
                    "kubernetes API unavailable: apply Namespace cloudcasa-io: 500 InternalError: boom (gave up after 3 attempts in 2s)",
                ),
            ),
            (
                "API rejected",
                id("abc1"),
                Err(rejected()),
                blocked(
                    "kubernetes API error: apply Deployment cloudcasa-io/cloudcasa-kubeagent-manager: 400 BadRequest: denied by policy",
                ),
            ),
            (
                "applied without agent from stale config",
                id("abc1"),
                Ok(Outcome::Done(Applied::WithoutAgent)),
                waiting("deployment cloudcasa-kubeagent-manager not applied yet"),
            ),
        ];
        for (name, cluster_id, result, expected) in cases {
            assert_eq!(
                decide("cloudcasa", &cluster_id, Report::Applied(&result)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn non_leader_table() {
        let cases: Vec<(&str, Result<ClusterId, ClusterIdError>, ReadResult, Status)> = vec![
            (
                "available",
                id("abc1"),
                Ok(Outcome::Done(Availability::Available)),
                Status::Active,
            ),
            (
                "pending",
                id("abc1"),
                Ok(Outcome::Done(pending())),
                waiting(WAIT_DEPLOYMENT),
            ),
            (
                "missing",
                id("abc1"),
                Ok(Outcome::Done(Availability::Missing)),
                waiting("waiting for the leader to create deployment cloudcasa-kubeagent-manager"),
            ),
            (
                "empty id",
                id(""),
                Ok(Outcome::Done(Availability::Missing)),
                blocked(SET_ID),
            ),
            (
                "forbidden",
                id("abc1"),
                Ok(Outcome::Forbidden(forbidden())),
                blocked(TRUST),
            ),
            (
                "API unavailable",
                id("abc1"),
                Err(unavailable()),
                waiting(
                    "kubernetes API unavailable: apply Namespace cloudcasa-io: 500 InternalError: boom (gave up after 3 attempts in 2s)",
                ),
            ),
        ];
        for (name, cluster_id, result, expected) in cases {
            assert_eq!(
                decide("cloudcasa", &cluster_id, Report::Read(&result)),
                expected,
                "{name}"
            );
        }
    }

    fn no_image(pod: PodFailure) -> NoImage {
        NoImage {
            resource: ResourceError::Empty("/res/content".into()),
            pod,
        }
    }

    #[test]
    fn no_image_table() {
        const ATTACH: &str =
            ": attach one with juju attach-resource cloudcasa cloudcasa-image=<image>";
        let missing_container = no_image(PodFailure::Failed(ClusterError::CharmImage(
            PodImageError::NoContainer {
                pod: "cloudcasa-0".into(),
                container: "cloudcasa".into(),
            },
        )));
        let cases = [
            (
                "forbidden",
                id("abc1"),
                no_image(PodFailure::Forbidden(forbidden())),
                blocked(TRUST),
            ),
            (
                "API unavailable",
                id("abc1"),
                no_image(PodFailure::Failed(unavailable())),
                waiting(
                    "cannot tell which image the agent should run: /res/content is empty: no \
                     image is attached; reading the charm's pod: apply Namespace cloudcasa-io: \
                     500 InternalError: boom (gave up after 3 attempts in 2s)",
                ),
            ),
            (
                "no image in the pod",
                id("abc1"),
                missing_container,
                blocked(&format!(
                    "cannot tell which image the agent should run: /res/content is empty: no \
                     image is attached; reading the charm's pod: finding the agent image: pod \
                     cloudcasa-0 has no container \"cloudcasa\"{ATTACH}"
                )),
            ),
            (
                "rejected",
                id(""),
                no_image(PodFailure::Failed(rejected())),
                blocked(SET_ID),
            ),
        ];
        for (name, cluster_id, problem, expected) in cases {
            assert_eq!(
                decide("cloudcasa", &cluster_id, Report::NoImage(&problem)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn converts_to_charm_core_statuses() {
        assert_eq!(
            charm_core::Status::from(Status::Active),
            charm_core::Status::active("")
        );
        assert_eq!(
            charm_core::Status::from(waiting("w")),
            charm_core::Status::waiting("w")
        );
        assert_eq!(
            charm_core::Status::from(blocked("b")),
            charm_core::Status::blocked("b")
        );
    }

    #[test]
    fn a_note_follows_the_message() {
        let note = "image backed up as reg.example/a:1";
        assert_eq!(
            Status::Active.noted(Some(&note)),
            charm_core::Status::active(note)
        );
        assert_eq!(
            waiting("w").noted(Some(&note)),
            charm_core::Status::waiting(format!("w; {note}"))
        );
        assert_eq!(
            blocked("b").noted(Some(&note)),
            charm_core::Status::blocked(format!("b; {note}"))
        );
        assert_eq!(blocked("b").noted(None::<&String>), blocked("b").into());
    }

    #[test]
    fn application_name_goes_into_instructions() {
        let result = Ok(Outcome::Forbidden(forbidden()));
        assert_eq!(
            decide("backup-agent", &id("abc1"), Report::Applied(&result)),
            blocked("missing permissions: run juju trust backup-agent --scope=cluster")
        );
        assert_eq!(
            decide(
                "backup-agent",
                &id(""),
                Report::Applied(&Ok(Outcome::Done(Applied::WithoutAgent)))
            ),
            blocked(
                "set clusterid: juju config backup-agent clusterid=<id from the CloudCasa console>"
            )
        );
    }
}
