//! cloudcasa end to end: the packed charm as a Kubernetes unit under the simulator, with a
//! fake Pebble serving its `cloudcasa` workload container.
//!
//! Without `KUBECONFIG` the charm cannot reach a cluster (no kubeconfig, and the simulator's
//! clean hook environment has no in-cluster service account): what is tested then is that it
//! says so instead of failing hooks or claiming Active, whatever the order of hooks, that
//! `stop` does nothing, and that `remove` refuses to pretend it cleaned up. With `KUBECONFIG`
//! (passed to the charm's hooks) the whole lifecycle runs against that cluster: deploy,
//! configure, upgrade, stop, remove, re-install, checked with a kube client.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p integration-tests --test cloudcasa -- --nocapture
//! ```

use std::time::Duration;

use integration_tests::model::{Hook, ModelError};
use integration_tests::{Model, Schedule, same_end_state};

mod common;
use common::cloudcasa::{APP, CONTAINER, IMAGE, UNIT, charm, deploy};

fn say(line: &str) {
    common::say("cloudcasa", line);
}

fn status(model: &Model, unit: &str) -> (String, String) {
    let s = model.unit_status(unit).unwrap();
    (s.status, s.message)
}

fn unreachable(status: &(String, String)) -> bool {
    status.0 == "blocked"
        && status
            .1
            .starts_with("cannot reach Kubernetes: no Kubernetes credentials")
}

/// No cluster: every hook succeeds and the unit says it cannot reach Kubernetes, whatever
/// `clusterid` says and in whatever order the hooks ran; pebble-ready found Pebble up.
#[test]
fn without_a_cluster_the_unit_says_so() {
    same_end_state(&Schedule::all([21, 22]), |schedule| {
        let mut m = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
        m.set_schedule(schedule);
        deploy(&mut m, &[]).unwrap();
        let names = m.hook_names(UNIT);
        assert!(
            names.iter().any(|n| n == "cloudcasa-pebble-ready"),
            "{names:?}"
        );
        let pebble = m
            .pebble(UNIT, CONTAINER)
            .expect("a Pebble for the container");
        assert!(pebble.socket_path().exists());
        assert!(unreachable(&status(&m, UNIT)), "{:?}", status(&m, UNIT));
        for clusterid in ["", "not valid!", "abc123"] {
            m.config_set(APP, &[("clusterid", clusterid)]).unwrap();
            assert!(unreachable(&status(&m, UNIT)), "{:?}", status(&m, UNIT));
        }
        m.update_status().unwrap();
        // A refresh recreates the pod: a fresh Pebble, pebble-ready again.
        let before = names.len();
        m.upgrade(APP, charm()).unwrap();
        let after = m.hook_names(UNIT);
        assert!(
            after[before..]
                .iter()
                .any(|n| n == "cloudcasa-pebble-ready"),
            "{after:?}"
        );
        let (kind, message) = status(&m, UNIT);
        assert!(unreachable(&(kind.clone(), message.clone())), "{message}");
        // The message names the model's temporary HOME: compare without it.
        (kind, message.replace(m.dir().to_str().unwrap(), "$MODEL"))
    });
}

/// `stop` fires on every pod restart: it must not even try to reach the cluster.
#[test]
fn stop_does_nothing() {
    let mut m = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut m, &[]).unwrap();
    let before = status(&m, UNIT);
    let logged = m.logs(UNIT).unwrap().len();
    let record = m.run(UNIT, Hook::Stop).unwrap().expect("stop ran");
    assert!(record.exit.success());
    assert_eq!(status(&m, UNIT), before);
    let stop_logs: Vec<String> = m.logs(UNIT).unwrap()[logged..]
        .iter()
        .map(|l| l.message.clone())
        .collect();
    let text = stop_logs.join("\n");
    assert!(text.contains("Emitting Juju event stop."), "{text}");
    assert!(text.contains("the agent keeps running"), "{text}");
    assert!(
        !text.contains("Kubernetes") && !text.contains("kube"),
        "stop talked about the cluster: {text}"
    );
}

/// Removing the last unit is the last chance to delete the cluster-admin binding: without a
/// cluster the `remove` hook fails (Juju retries it) rather than pretend it cleaned up.
#[test]
fn remove_without_a_cluster_fails_the_hook() {
    let mut m = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut m, &[]).unwrap();
    let err = m.remove_unit(UNIT).unwrap_err();
    let ModelError::HookFailed(failure) = err else {
        panic!("expected the remove hook to fail, got {err}");
    };
    assert_eq!(failure.call.hook, Hook::Remove);
    let logs: Vec<String> = m
        .logs(UNIT)
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("no Kubernetes credentials")),
        "{logs:?}"
    );
    // Still there, waiting for the operator (or a retry that works).
    assert_eq!(m.units(APP).unwrap(), [UNIT]);
}

/// The whole lifecycle against the cluster in `KUBECONFIG`.
#[test]
fn lifecycle_on_the_kubeconfig_cluster() {
    let Some(kubeconfig) = std::env::var_os("KUBECONFIG") else {
        say(
            "SKIPPED the live-cluster lifecycle: KUBECONFIG is not set, no cluster to test against",
        );
        return;
    };
    let kubeconfig = kubeconfig.to_string_lossy().into_owned();
    let cluster = live::Cluster::connect();
    cluster.refuse_foreign_objects();
    if !cluster.namespace_gone_within(Duration::from_secs(120)) {
        say(
            "SKIPPED the live-cluster lifecycle: namespace cloudcasa-io is still terminating from an earlier run (a bare API server has no namespace controller to finish it)",
        );
        return;
    }
    let env = [("KUBECONFIG", kubeconfig.as_str())];

    say("deploy without clusterid: everything but the agent");
    let mut m = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut m, &env).unwrap();
    assert_eq!(
        status(&m, UNIT),
        (
            "blocked".to_owned(),
            "set clusterid: juju config cloudcasa clusterid=<id from the CloudCasa console>"
                .to_owned()
        )
    );
    assert!(cluster.namespace_exists());
    assert!(cluster.binding_exists());
    assert_eq!(cluster.agent(), None);

    say("configure clusterid: the agent deployment");
    m.config_set(APP, &[("clusterid", "abc123")]).unwrap();
    assert_eq!(
        cluster.agent(),
        Some(("abc123".to_owned(), IMAGE.to_owned()))
    );
    let configured = status(&m, UNIT);
    assert!(
        configured.0 == "active" || configured.0 == "waiting",
        "{configured:?}"
    );

    say("invalid clusterid: Blocked, the running agent left alone");
    m.config_set(APP, &[("clusterid", "abc 123")]).unwrap();
    let s = status(&m, UNIT);
    assert_eq!(s.0, "blocked");
    assert!(s.1.contains("clusterid"), "{s:?}");
    assert_eq!(
        cluster.agent(),
        Some(("abc123".to_owned(), IMAGE.to_owned()))
    );
    m.config_set(APP, &[("clusterid", "abc123")]).unwrap();

    say("stop (a pod restart) and upgrade: nothing removed, same agent");
    m.run(UNIT, Hook::Stop).unwrap();
    assert!(cluster.binding_exists());
    m.upgrade(APP, charm()).unwrap();
    assert_eq!(
        cluster.agent(),
        Some(("abc123".to_owned(), IMAGE.to_owned()))
    );

    say("remove the application's last unit: binding and namespace deleted");
    m.remove_unit(UNIT).unwrap();
    assert!(!cluster.binding_exists());
    assert!(
        !cluster.namespace_exists(),
        "namespace neither gone nor terminating"
    );
    if !cluster.namespace_gone_within(Duration::from_secs(120)) {
        say(
            "re-install not tested: the namespace is still terminating (a bare API server has no namespace controller)",
        );
        return;
    }

    say("re-install in a new model");
    let mut again = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut again, &env).unwrap();
    again.config_set(APP, &[("clusterid", "abc123")]).unwrap();
    let s = status(&again, UNIT);
    assert!(s.0 == "active" || s.0 == "waiting", "{s:?}");
    assert!(cluster.binding_exists());
    again.remove_unit(UNIT).unwrap();
    assert!(!cluster.binding_exists());
}

/// The cluster as the test sees it, with its own client.
mod live {
    use std::time::{Duration, Instant};

    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    use kube::{Api, Client};

    use cloudcasa_charm::objects::{CLUSTER_ROLE_BINDING as BINDING, DEPLOYMENT, NAMESPACE};
    const MODEL_LABEL: &str = cloudcasa_charm::owner::MODEL;
    const APP_LABEL: &str = cloudcasa_charm::owner::CREATED_BY;

    pub struct Cluster {
        runtime: tokio::runtime::Runtime,
        client: Client,
    }

    impl Cluster {
        pub fn connect() -> Cluster {
            let (runtime, client) = super::common::kubeconfig_client();
            Cluster { runtime, client }
        }

        /// The test uses the real, cluster-wide names: it must not take over an agent that
        /// someone else installed.
        pub fn refuse_foreign_objects(&self) {
            let ns: Option<Namespace> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(NAMESPACE))
                .unwrap();
            if let Some(ns) = ns {
                let labels = ns.metadata.labels.unwrap_or_default();
                // The simulator's model is `sim`, the application `cloudcasa`.
                let label = |key: &str| labels.get(key).map(String::as_str);
                let ours =
                    label(MODEL_LABEL) == Some("sim") && label(APP_LABEL) == Some("cloudcasa");
                assert!(
                    ours,
                    "namespace {NAMESPACE} exists and was not made by this test: refusing to touch it"
                );
            }
        }

        pub fn namespace_exists(&self) -> bool {
            let ns: Option<Namespace> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(NAMESPACE))
                .unwrap();
            ns.is_some_and(|n| n.metadata.deletion_timestamp.is_none())
        }

        /// Whether the namespace is gone (not merely terminating) within `limit`. A bare API
        /// server has no namespace controller: deletion never completes there.
        pub fn namespace_gone_within(&self, limit: Duration) -> bool {
            let start = Instant::now();
            loop {
                let ns: Option<Namespace> = self
                    .runtime
                    .block_on(Api::all(self.client.clone()).get_opt(NAMESPACE))
                    .unwrap();
                if ns.is_none() {
                    return true;
                }
                if start.elapsed() > limit {
                    return false;
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }

        pub fn binding_exists(&self) -> bool {
            let crb: Option<ClusterRoleBinding> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(BINDING))
                .unwrap();
            crb.is_some()
        }

        /// The agent's `AMDS_CLUSTER_ID` and image, if its deployment exists.
        pub fn agent(&self) -> Option<(String, String)> {
            let api: Api<Deployment> = Api::namespaced(self.client.clone(), NAMESPACE);
            let deployment = self.runtime.block_on(api.get_opt(DEPLOYMENT)).unwrap()?;
            let container = deployment
                .spec?
                .template
                .spec?
                .containers
                .into_iter()
                .next()?;
            let id = container
                .env
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.name == "AMDS_CLUSTER_ID")?
                .value?;
            Some((id, container.image?))
        }
    }
}
