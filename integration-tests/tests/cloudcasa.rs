//! cloudcasa end to end: the packed charm as a Kubernetes unit under the simulator, with a
//! fake Pebble serving its `cloudcasa` workload container.
//!
//! Without `KUBECONFIG` the charm cannot reach a cluster (no kubeconfig, and the simulator's
//! clean hook environment has no in-cluster service account): what is tested then is that it
//! says so instead of failing hooks or claiming Active, whatever the order of hooks, that
//! `stop` does nothing, and that `remove` refuses to pretend it cleaned up. With `KUBECONFIG`
//! (passed to the charm's hooks) the whole lifecycle runs against that cluster: deploy,
//! configure, upgrade, stop, remove, re-install, checked with a kube client, under the
//! `cloudcasa` cluster lock that every test touching `cloudcasa-io` takes.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p integration-tests --test cloudcasa -- --nocapture
//! ```

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

/// The whole lifecycle against the cluster in `KUBECONFIG`, under the `cloudcasa` cluster lock
/// (`kube-testing`): what the charm creates is labelled as test-made, and every deletion is
/// waited for.
#[test]
fn lifecycle_on_the_kubeconfig_cluster() {
    let Some(cluster) = live::Cluster::connect() else {
        return;
    };
    cluster.remove_debris();
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG is set");
    let env = [("KUBECONFIG", kubeconfig.as_str())];

    say("deploy without clusterid: everything but the agent");
    let mut m = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut m, &env).unwrap();
    cluster.mark_ours();
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
    cluster.wait_namespace_gone();

    say("re-install in a new model");
    let mut again = Model::new(env!("CARGO_BIN_EXE_juju-sim")).unwrap();
    deploy(&mut again, &env).unwrap();
    cluster.mark_ours();
    again.config_set(APP, &[("clusterid", "abc123")]).unwrap();
    let s = status(&again, UNIT);
    assert!(s.0 == "active" || s.0 == "waiting", "{s:?}");
    assert!(cluster.binding_exists());
    again.remove_unit(UNIT).unwrap();
    assert!(!cluster.binding_exists());
    cluster.wait_namespace_gone();
}

/// The cluster as the test sees it, with its own client.
mod live {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    use kube::api::DeleteParams;
    use kube::{Api, Client, Resource};
    use kube_testing::namespace::{self, DELETION_LIMIT};
    use kube_testing::{ClusterLock, TestCluster, labels};

    use cloudcasa_charm::objects::{CLUSTER_ROLE_BINDING as BINDING, DEPLOYMENT, NAMESPACE};
    const MODEL_LABEL: &str = cloudcasa_charm::owner::MODEL;
    const APP_LABEL: &str = cloudcasa_charm::owner::CREATED_BY;
    const TEST: &str = "cloudcasa e2e";

    pub struct Cluster {
        runtime: tokio::runtime::Runtime,
        client: Client,
        _lock: ClusterLock,
    }

    /// Made by a test: labelled so, or by the simulator's model `sim` and application
    /// `cloudcasa` (between the charm creating it and [`Cluster::mark_ours`]).
    fn ours<K: Resource>(object: &K) -> bool {
        let labels = object.meta().labels.clone().unwrap_or_default();
        let label = |key: &str| labels.get(key).map(String::as_str);
        labels::made_by_a_test(object)
            || (label(MODEL_LABEL) == Some("sim") && label(APP_LABEL) == Some("cloudcasa"))
    }

    impl Cluster {
        /// Connected and holding the `cloudcasa` cluster lock; `None` (after a `SKIPPED`
        /// line) without `KUBECONFIG`.
        pub fn connect() -> Option<Cluster> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let cluster =
                runtime.block_on(TestCluster::connect(TEST, "the live-cluster lifecycle"))?;
            let lock = runtime.block_on(cluster.lock("cloudcasa"));
            Some(Cluster {
                runtime,
                client: cluster.client,
                _lock: lock,
            })
        }

        /// The test uses the real, cluster-wide names: it must not take over an agent that
        /// someone else installed. What an earlier test run left is deleted, and waited for.
        pub fn remove_debris(&self) {
            let ns: Option<Namespace> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(NAMESPACE))
                .unwrap();
            let crb: Option<ClusterRoleBinding> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(BINDING))
                .unwrap();
            for (what, labels) in [
                (
                    format!("namespace {NAMESPACE}"),
                    ns.as_ref().map(|o| (ours(o), o.meta().labels.clone())),
                ),
                (
                    format!("binding {BINDING}"),
                    crb.as_ref().map(|o| (ours(o), o.meta().labels.clone())),
                ),
            ] {
                if let Some((false, labels)) = labels {
                    panic!(
                        "{what} exists and was not made by a test (labels {labels:?}): refusing to touch it"
                    );
                }
            }
            if crb.is_some() {
                let api: Api<ClusterRoleBinding> = Api::all(self.client.clone());
                let _ = self
                    .runtime
                    .block_on(api.delete(BINDING, &DeleteParams::default()));
            }
            if ns.is_some() {
                self.runtime
                    .block_on(namespace::delete_and_wait(
                        &self.client,
                        NAMESPACE,
                        DELETION_LIMIT,
                    ))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }

        /// Labels the namespace and binding the charm made as test-made.
        pub fn mark_ours(&self) {
            let namespaces: Api<Namespace> = Api::all(self.client.clone());
            let bindings: Api<ClusterRoleBinding> = Api::all(self.client.clone());
            self.runtime
                .block_on(labels::mark(&namespaces, NAMESPACE, TEST))
                .unwrap();
            self.runtime
                .block_on(labels::mark(&bindings, BINDING, TEST))
                .unwrap();
        }

        /// Waits until the namespace the charm deleted is gone (standing in for the namespace
        /// controller where none runs).
        pub fn wait_namespace_gone(&self) {
            self.runtime
                .block_on(namespace::wait_gone(
                    &self.client,
                    NAMESPACE,
                    DELETION_LIMIT,
                ))
                .unwrap_or_else(|e| panic!("{e}"));
        }

        pub fn namespace_exists(&self) -> bool {
            let ns: Option<Namespace> = self
                .runtime
                .block_on(Api::all(self.client.clone()).get_opt(NAMESPACE))
                .unwrap();
            ns.is_some_and(|n| n.metadata.deletion_timestamp.is_none())
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
