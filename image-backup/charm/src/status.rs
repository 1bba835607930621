//! The unit's status: a pure decision from what the hook observed.
//!
//! Order: what the operator must fix (config, credentials, trust) first, then what the charm is
//! waiting for (Pebble, the controller becoming ready, the cluster API), then Active with a
//! summary of the protected images.

use charm_core::Status;

use crate::cluster::Verb;
use crate::config::{ConfigProblems, Settings};
use crate::provider::Report;
use crate::workload::Health;

/// Where applying the CRD and RBAC stands this hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    /// Applied now or earlier, or not this unit's job (only the leader applies).
    Fine,
    /// No client could be set up (no in-cluster service account, no kubeconfig): waiting
    /// will not fix it.
    Unreachable(String),
    /// The API server refused: the application needs `juju trust`.
    Forbidden {
        verb: Verb,
        object: String,
        message: String,
    },
    /// Another failure; retried on the next hook.
    Failed(String),
}

/// Everything the status depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<'a> {
    pub app: &'a str,
    pub config: Result<&'a Settings, &'a ConfigProblems>,
    /// Why the registry credentials cannot be used, if they cannot.
    pub credentials: Option<String>,
    pub cluster: ClusterState,
    /// Why the workload could not be configured, if it could not.
    pub workload_error: Option<String>,
    pub health: Health,
    pub relations: Report,
}

/// The unit's status.
pub fn decide(o: &Observed<'_>) -> Status {
    let settings = match o.config {
        Err(problems) => return Status::blocked(format!("invalid config: {problems}")),
        Ok(settings) => settings,
    };
    if let Some(reason) = &o.credentials {
        return Status::blocked(format!("registry-credentials: {reason}"));
    }
    if let ClusterState::Unreachable(e) = &o.cluster {
        return Status::blocked(format!("cannot reach Kubernetes: {e}"));
    }
    if let ClusterState::Forbidden { verb, object, .. } = &o.cluster {
        return Status::blocked(format!(
            "not allowed to {} {object}: run `juju trust {} --scope=cluster`",
            verb.as_str(),
            o.app
        ));
    }
    if let Some(e) = &o.workload_error {
        return Status::waiting(format!("configuring the controller: {e}"));
    }
    match &o.health {
        Health::PebbleNotReady => {
            return Status::waiting("waiting for Pebble in the controller container");
        }
        Health::NotRunning(state) => {
            return Status::waiting(format!("controller service: {state}"));
        }
        Health::NotReady { failures, .. } => {
            return Status::waiting(format!(
                "controller not ready: /readyz failed {failures} time{} in a row",
                if *failures == 1 { "" } else { "s" }
            ));
        }
        Health::Ready => {}
    }
    if let ClusterState::Failed(e) = &o.cluster {
        return Status::waiting(format!("applying CRD and RBAC (retried next hook): {e}"));
    }
    Status::active(summary(&settings.backup_registry, &o.relations))
}

fn summary(registry: &str, r: &Report) -> String {
    let mut parts = vec![format!("backing up to {registry}")];
    if r.requested > 0 {
        parts.push(format!(
            "{}/{} requested images backed up",
            r.done, r.requested
        ));
    }
    if let Some((image, reason)) = r.failed.first() {
        let more = match r.failed.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        parts.push(format!("backup of {image} failed ({reason}){more}"));
    }
    for (app, errors) in &r.invalid {
        let keys: Vec<&str> = errors.keys().collect();
        parts.push(format!("invalid request from {app} ({})", keys.join(", ")));
    }
    if r.unavailable.is_some() {
        parts.push("controller API unavailable".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigProblem, RecheckInterval};

    fn settings() -> Settings {
        Settings {
            backup_registry: "reg.example:5000/b".into(),
            credentials_secret: None,
            exclude_namespaces: vec![],
            rollout: false,
            concurrency: 4,
            recheck_interval: RecheckInterval::parse("1h").unwrap(),
        }
    }

    fn observed(settings: &Settings) -> Observed<'_> {
        Observed {
            app: "image-backup",
            config: Ok(settings),
            credentials: None,
            cluster: ClusterState::Fine,
            workload_error: None,
            health: Health::Ready,
            relations: Report::default(),
        }
    }

    #[test]
    fn operator_fixes_come_first() {
        let s = settings();
        let problems = ConfigProblems(vec![ConfigProblem {
            option: "backup-registry",
            reason: "not set".into(),
        }]);
        let mut o = observed(&s);
        o.health = Health::PebbleNotReady;
        o.cluster = ClusterState::Forbidden {
            verb: Verb::Apply,
            object: "CustomResourceDefinition imagebackups.k8slab.io".into(),
            message: "forbidden".into(),
        };
        assert_eq!(
            decide(&o),
            Status::blocked(
                "not allowed to apply CustomResourceDefinition imagebackups.k8slab.io: run \
                 `juju trust image-backup --scope=cluster`"
            )
        );
        o.credentials = Some("secret not found".into());
        assert_eq!(
            decide(&o),
            Status::blocked("registry-credentials: secret not found")
        );
        o.config = Err(&problems);
        assert_eq!(
            decide(&o),
            Status::blocked("invalid config: backup-registry: not set")
        );
    }

    #[test]
    fn a_refused_deletion_asks_for_trust_too() {
        let s = settings();
        let mut o = observed(&s);
        o.cluster = ClusterState::Forbidden {
            verb: Verb::Delete,
            object: "MutatingWebhookConfiguration image-backup-prod-image-backup".into(),
            message: "forbidden".into(),
        };
        assert_eq!(
            decide(&o),
            Status::blocked(
                "not allowed to delete MutatingWebhookConfiguration \
                 image-backup-prod-image-backup: run `juju trust image-backup --scope=cluster`"
            )
        );
    }

    #[test]
    fn a_cluster_without_a_client_blocks_but_a_failing_one_waits() {
        let s = settings();
        let mut o = observed(&s);
        o.cluster = ClusterState::Failed("500 Internal Server Error".into());
        assert_eq!(
            decide(&o),
            Status::waiting("applying CRD and RBAC (retried next hook): 500 Internal Server Error")
        );
        o.health = Health::PebbleNotReady;
        o.cluster = ClusterState::Unreachable("no kubeconfig".into());
        assert_eq!(
            decide(&o),
            Status::blocked("cannot reach Kubernetes: no kubeconfig")
        );
    }

    #[test]
    fn waiting_for_the_controller() {
        let s = settings();
        let mut o = observed(&s);
        o.health = Health::NotReady {
            failures: 1,
            down: false,
        };
        assert_eq!(
            decide(&o),
            Status::waiting("controller not ready: /readyz failed 1 time in a row")
        );
        o.health = Health::PebbleNotReady;
        assert_eq!(
            decide(&o),
            Status::waiting("waiting for Pebble in the controller container")
        );
    }

    #[test]
    fn active_summarises_the_requested_images() {
        let s = settings();
        let mut o = observed(&s);
        assert_eq!(
            decide(&o),
            Status::active("backing up to reg.example:5000/b")
        );
        o.relations = Report {
            requested: 3,
            done: 1,
            failed: vec![
                ("a:1".into(), "unauthorized".into()),
                ("b:1".into(), "x".into()),
            ],
            invalid: vec![],
            unavailable: None,
        };
        assert_eq!(
            decide(&o),
            Status::active(
                "backing up to reg.example:5000/b; 1/3 requested images backed up; backup of \
                 a:1 failed (unauthorized) and 1 more"
            )
        );
    }
}
