//! The cluster `KUBECONFIG` names, and what it can do.

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client, Config};

use crate::images::Registry;
use crate::lock::ClusterLock;
use crate::report;

/// A connection to the test cluster, for the test named `test` (in its lines, labels and
/// lock holder identity).
pub struct TestCluster {
    pub client: Client,
    pub config: Config,
    test: String,
}

/// What running pods takes: a Ready node, and a registry that node pulls from.
pub struct PodRunner {
    /// A Ready, schedulable node.
    pub node: String,
    pub registry: Registry,
}

impl TestCluster {
    /// The cluster in `KUBECONFIG`; `None`, after one `SKIPPED <what>` line, when it is unset.
    /// Panics when it is set but unusable: the person running the tests asked for a cluster.
    pub async fn connect(test: &str, what: &str) -> Option<TestCluster> {
        if std::env::var_os("KUBECONFIG").is_none() {
            report::skipped(
                test,
                what,
                "KUBECONFIG is not set, so no cluster was given to test against",
            );
            return None;
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Config::infer()
            .await
            .unwrap_or_else(|e| panic!("KUBECONFIG is set but names no usable cluster: {e}"));
        let client = Client::try_from(config.clone())
            .unwrap_or_else(|e| panic!("no client for the KUBECONFIG cluster: {e}"));
        Some(TestCluster {
            client,
            config,
            test: test.to_owned(),
        })
    }

    pub fn test(&self) -> &str {
        &self.test
    }

    pub fn say(&self, line: &str) {
        report::say(&self.test, line);
    }

    pub fn skipped(&self, what: &str, why: &str) {
        report::skipped(&self.test, what, why);
    }

    /// Takes the cluster lock `name` ([`ClusterLock`]); panics naming the holder when it
    /// stays taken.
    pub async fn lock(&self, name: &str) -> ClusterLock {
        ClusterLock::acquire(&self.config, name, &self.test)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether this cluster can run the tests' pods, or why not: it needs a Ready node (a bare
    /// API server has none) and `TEST_CLUSTER_REGISTRY`, a registry both this process and the
    /// nodes reach. Either missing is a reason to skip the pod-running parts; a pod that then
    /// does not start is a failure, not a skip.
    pub async fn pod_runner(&self) -> Result<PodRunner, String> {
        let node = self.ready_node().await?;
        let registry = Registry::from_env()?;
        Ok(PodRunner { node, registry })
    }

    async fn ready_node(&self) -> Result<String, String> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes.list(&ListParams::default()).await.map_err(|e| {
            format!("listing the nodes failed ({e}), so whether pods can run is unknown")
        })?;
        let ready = list.items.into_iter().find(|node| {
            let schedulable = !node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            let ready = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            schedulable && ready
        });
        ready
            .and_then(|node| node.metadata.name)
            .ok_or_else(|| "the cluster has no Ready, schedulable node (a bare API server)".into())
    }
}
