//! What the tests against the `KUBECONFIG` cluster share, on top of `kube-testing`: they touch
//! the real cluster-wide objects (`cloudcasa-io`), so they hold the `cloudcasa` cluster lock,
//! make sure nobody else's installation is there, and remove what an earlier run left.
//!
//! The charm labels its objects with their Juju owner; right after the charm creates them the
//! test adds the `kube-testing` label ([`Live::mark_ours`]), so that any later run (of any
//! test, after a crash too) knows them for test debris.

use std::time::Duration;

use cloudcasa_charm::objects::{CLUSTER_ROLE_BINDING, NAMESPACE};
use cloudcasa_charm::owner::Owner;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::DeleteParams;
use kube::{Api, Client, Resource};
use kube_testing::namespace::{self, DELETION_LIMIT};
use kube_testing::{ClusterLock, PodRunner, TestCluster, labels, pods};

/// The cluster lock of every test that touches `cloudcasa-io`.
const LOCK: &str = "cloudcasa";

/// Reachable images for the agent's deployment.
pub struct AgentImages {
    pub first: String,
    pub second: String,
    /// An image no registry has, to make the deployment unavailable; `None` where pods
    /// cannot run anyway.
    pub broken: Option<String>,
}

/// A test's hold on the cluster.
pub struct Live {
    pub cluster: TestCluster,
    /// Whether the agent's pods can run here, or why not.
    pub pods: Result<PodRunner, String>,
    _lock: ClusterLock,
}

impl Live {
    /// Connects (or prints `SKIPPED` and returns `None` without `KUBECONFIG`), takes the lock,
    /// refuses an installation no test made, and removes an earlier run's objects.
    pub async fn start(test: &str) -> Option<Live> {
        let cluster = TestCluster::connect(test, "the CloudCasa lifecycle on a cluster").await?;
        let lock = cluster.lock(LOCK).await;
        let pods = cluster.pod_runner().await;
        let live = Live {
            cluster,
            pods,
            _lock: lock,
        };
        live.remove_debris().await;
        Some(live)
    }

    pub fn client(&self) -> &Client {
        &self.cluster.client
    }

    pub fn say(&self, line: &str) {
        self.cluster.say(line);
    }

    /// The agent images: test images in the cluster's registry when pods can run here, else
    /// the real agent's references (nothing pulls them on a cluster without nodes).
    pub async fn agent_images(&self) -> AgentImages {
        let Ok(runner) = &self.pods else {
            return AgentImages {
                first: "docker.io/catalogicsoftware/amds-kagent:latest".into(),
                second: "docker.io/catalogicsoftware/amds-kagent:3.0.0".into(),
                broken: None,
            };
        };
        let push = async |name: &str| {
            runner
                .registry
                .push_pause(name)
                .await
                .unwrap_or_else(|e| panic!("pushing the test agent image {name}: {e}"))
                .reference
        };
        AgentImages {
            first: push("cloudcasa-agent-1").await,
            second: push("cloudcasa-agent-2").await,
            broken: Some(format!(
                "{}/kube-testing/never-pushed:v1",
                runner.registry.host()
            )),
        }
    }

    /// Never touch a CloudCasa installation no test made: whatever exists must carry the
    /// test label or be owned by one of [`TEST_OWNERS`]. Then delete it, and wait until it is
    /// gone.
    async fn remove_debris(&self) {
        let namespaces: Api<Namespace> = Api::all(self.client().clone());
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client().clone());
        let found_ns = namespaces.get_opt(NAMESPACE).await.expect("read namespace");
        let found_crb = bindings
            .get_opt(CLUSTER_ROLE_BINDING)
            .await
            .expect("read cluster role binding");
        if let Some(ns) = &found_ns {
            assert!(
                ours(ns),
                "namespace {NAMESPACE} exists and no test made it (labels {:?}); refusing to touch it",
                ns.meta().labels
            );
        }
        if let Some(crb) = &found_crb {
            assert!(
                ours(crb),
                "cluster role binding {CLUSTER_ROLE_BINDING} exists and no test made it (labels {:?}); refusing to touch it",
                crb.meta().labels
            );
            match bindings
                .delete(CLUSTER_ROLE_BINDING, &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => panic!("deleting the binding an earlier run left: {e}"),
            }
        }
        if found_ns.is_some() {
            self.say("removing namespace cloudcasa-io left by an earlier run");
            namespace::delete_and_wait(self.client(), NAMESPACE, DELETION_LIMIT)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Labels the namespace and binding (once the charm made them) as test-made.
    pub async fn mark_ours(&self) {
        let test = self.cluster.test();
        let namespaces: Api<Namespace> = Api::all(self.client().clone());
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client().clone());
        labels::mark(&namespaces, NAMESPACE, test)
            .await
            .unwrap_or_else(|e| panic!("labelling namespace {NAMESPACE}: {e}"));
        labels::mark(&bindings, CLUSTER_ROLE_BINDING, test)
            .await
            .unwrap_or_else(|e| panic!("labelling binding {CLUSTER_ROLE_BINDING}: {e}"));
    }

    /// Waits until the namespace the charm deleted is gone (standing in for the namespace
    /// controller where none runs).
    pub async fn wait_namespace_gone(&self) {
        namespace::wait_gone(self.client(), NAMESPACE, DELETION_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// What the agent's pods and the namespace's events say, for failure messages.
    pub async fn describe_agent(&self) -> String {
        pods::describe(self.client(), NAMESPACE, "").await
    }
}

/// How long an agent pod from the cluster registry may take to become available.
pub const AVAILABLE_LIMIT: Duration = Duration::from_secs(180);

/// The Juju owners (model, application) the live tests' charm runs as: `live_cluster`'s and
/// the charm-core harness's of `live_charm`.
const TEST_OWNERS: [(&str, &str); 2] = [
    ("cloudcasa-charm-test", "cloudcasa"),
    ("test-model", "cloudcasa"),
];

/// Made by a test: labelled so, or owned by a live test's Juju owner (the window between the
/// charm creating it and [`Live::mark_ours`], or an earlier version of these tests).
fn ours<K: Resource>(object: &K) -> bool {
    let owner = object.meta().labels.as_ref().and_then(Owner::from_labels);
    labels::made_by_a_test(object)
        || owner.is_some_and(|o| TEST_OWNERS.contains(&(o.model(), o.application())))
}
