//! Whether the agent's deployment is serving, read from its status the way `kubectl rollout
//! status` reads it: a deployment counts as available only once the deployment controller has
//! seen its latest spec and every desired replica runs that spec and is available. A pod of the
//! previous spec still running after a `clusterid` change is not the agent the operator asked for.

use std::fmt;

use k8s_openapi::api::apps::v1::Deployment;

/// What the deployment is doing, for the unit's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// There is no such deployment.
    Missing,
    /// It exists but is not serving its latest spec yet.
    Pending(Pending),
    /// Every desired replica runs the latest spec and is available.
    Available,
}

/// What a deployment still waits for. `Display` completes "waiting for deployment X: ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// The deployment controller has not processed the latest spec (on a cluster without a
    /// controller manager it never will).
    NotObserved {
        /// Available replicas (of any spec).
        available: i32,
        /// Desired replicas.
        desired: i32,
    },
    /// The controller gave up progressing (`ProgressDeadlineExceeded`), e.g. the image cannot
    /// be pulled. It keeps retrying, and so does update-status.
    Stalled {
        /// The controller's explanation.
        message: String,
    },
    /// Not every desired replica runs the latest spec yet.
    Updating {
        /// Replicas running the latest spec.
        updated: i32,
        /// Desired replicas.
        desired: i32,
    },
    /// Replicas of an older spec have yet to go away.
    OldTerminating {
        /// How many.
        old: i32,
    },
    /// Replicas of the latest spec exist but are not available (starting, crashing, or no
    /// node to run on).
    Unavailable {
        /// Available replicas of the latest spec.
        available: i32,
        /// Desired replicas.
        desired: i32,
    },
}

/// Reads a deployment's availability from its spec and status.
pub fn availability(deployment: &Deployment) -> Availability {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let available = status.available_replicas.unwrap_or(0);
    let observed = match (deployment.metadata.generation, status.observed_generation) {
        (Some(generation), Some(observed)) => observed >= generation,
        // Without a generation there is nothing to compare: the status is all we have.
        (None, _) => true,
        (Some(_), None) => false,
    };
    if !observed {
        return Availability::Pending(Pending::NotObserved { available, desired });
    }
    let stalled = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = stalled {
        return Availability::Pending(Pending::Stalled {
            message: condition.message.clone().unwrap_or_default(),
        });
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let pending = if updated < desired {
        Pending::Updating { updated, desired }
    } else if total > updated {
        Pending::OldTerminating {
            old: total - updated,
        }
    } else if available < updated {
        Pending::Unavailable { available, desired }
    } else {
        return Availability::Available;
    };
    Availability::Pending(pending)
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotObserved { available, desired } => write!(
                f,
                "{available}/{desired} replicas available, latest spec not yet rolled out"
            ),
            Self::Stalled { message } => write!(f, "rollout stalled: {message}"),
            Self::Updating { updated, desired } => {
                write!(f, "{updated}/{desired} replicas updated")
            }
            Self::OldTerminating { old: 1 } => f.write_str("1 old replica terminating"),
            Self::OldTerminating { old } => write!(f, "{old} old replicas terminating"),
            Self::Unavailable { available, desired } => {
                write!(f, "{available}/{desired} replicas available")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
    use kube::api::ObjectMeta;

    struct Observed {
        generation: i64,
        observed: Option<i64>,
        replicas: i32,
        updated: i32,
        available: i32,
    }

    fn deployment(o: Observed) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(o.generation),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: o.observed,
                replicas: Some(o.replicas),
                updated_replicas: Some(o.updated),
                available_replicas: Some(o.available),
                ..Default::default()
            }),
        }
    }

    fn check(o: Observed, expected: Option<&str>) {
        let got = availability(&deployment(o));
        match expected {
            None => assert_eq!(got, Availability::Available),
            Some(text) => match got {
                Availability::Pending(p) => assert_eq!(p.to_string(), text),
                other => panic!("expected pending {text:?}, got {other:?}"),
            },
        }
    }

    #[test]
    fn available_when_latest_spec_runs_everywhere() {
        check(
            Observed {
                generation: 2,
                observed: Some(2),
                replicas: 1,
                updated: 1,
                available: 1,
            },
            None,
        );
    }

    #[test]
    fn pending_states_say_what_is_missing() {
        // Fresh deployment on a cluster with no nodes: observed, nothing available.
        check(
            Observed {
                generation: 1,
                observed: Some(1),
                replicas: 1,
                updated: 1,
                available: 0,
            },
            Some("0/1 replicas available"),
        );
        // A bare API server: no deployment controller, status never written.
        check(
            Observed {
                generation: 1,
                observed: None,
                replicas: 0,
                updated: 0,
                available: 0,
            },
            Some("0/1 replicas available, latest spec not yet rolled out"),
        );
        // clusterid changed: the old pod still serves the old spec.
        check(
            Observed {
                generation: 3,
                observed: Some(2),
                replicas: 1,
                updated: 1,
                available: 1,
            },
            Some("1/1 replicas available, latest spec not yet rolled out"),
        );
        check(
            Observed {
                generation: 3,
                observed: Some(3),
                replicas: 2,
                updated: 0,
                available: 1,
            },
            Some("0/1 replicas updated"),
        );
        check(
            Observed {
                generation: 3,
                observed: Some(3),
                replicas: 2,
                updated: 1,
                available: 1,
            },
            Some("1 old replica terminating"),
        );
    }

    #[test]
    fn stalled_rollout_carries_the_controller_message() {
        let mut d = deployment(Observed {
            generation: 1,
            observed: Some(1),
            replicas: 1,
            updated: 1,
            available: 0,
        });
        d.status.as_mut().unwrap().conditions = Some(vec![DeploymentCondition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet \"x\" has timed out progressing.".into()),
            ..Default::default()
        }]);
        assert_eq!(
            availability(&d),
            Availability::Pending(Pending::Stalled {
                message: "ReplicaSet \"x\" has timed out progressing.".into()
            })
        );
    }

    #[test]
    fn missing_status_counts_as_nothing_available() {
        let d = Deployment::default();
        assert_eq!(
            availability(&d),
            Availability::Pending(Pending::Updating {
                updated: 0,
                desired: 1
            })
        );
    }
}
