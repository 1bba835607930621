//! The charm's hooks against the real cluster named by `KUBECONFIG`: deploy (install without
//! `clusterid`), configure, upgrade with a new image, a follower's update-status, stop, a
//! scale-down, removal of the application, and re-install. The hooks run through charm-core's
//! testing harness (Juju in memory) with the charm's production connection ([`Inferred`]),
//! so everything the charm sends reaches the cluster.
//!
//! Without `KUBECONFIG` the test says it was skipped and passes: there is no cluster to test.
//! It uses the cluster-wide objects' real names (`cloudcasa-io`), labelled as owned by the
//! harness's model (`test-model`) and application `cloudcasa`, under the `cloudcasa` cluster
//! lock, and refuses to start if an installation no test made is there (it may be a real
//! installation of the Python charm). Where the cluster runs pods (a Ready node and
//! `TEST_CLUSTER_REGISTRY`) the agent runs from a test image, and the unit goes from Waiting
//! to Active once its deployment is available, and back to Waiting when an image no registry
//! has makes it unavailable; elsewhere one line says that was not checked.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config TEST_CLUSTER_REGISTRY=localhost:32000 \
//!     cargo test -p cloudcasa-charm --test live_charm -- --nocapture
//! ```
//!
//! [`Inferred`]: cloudcasa_charm::connection::Inferred

mod live;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use charm_core::metadata::ConfigValue;
use charm_core::testing::{Context, State};
use charm_core::{Event, Metadata, Status};
use cloudcasa_charm::CloudCasa;
use cloudcasa_charm::objects::{CLUSTER_ROLE_BINDING, DEPLOYMENT, NAMESPACE, SERVICE_ACCOUNT};
use cloudcasa_charm::owner::Owner;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::{Api, Client, Resource};
use live::{AVAILABLE_LIMIT, Live};
use tokio::runtime::Runtime;

const SET_ID: &str =
    "set clusterid: juju config cloudcasa clusterid=<id from the CloudCasa console>";

fn say(line: &str) {
    kube_testing::report::say("cloudcasa live_charm", line);
}

/// The owner the harness's model and unit make: model `test-model`, application `cloudcasa`.
fn owner() -> Owner {
    Owner::new("test-model", "cloudcasa").unwrap()
}

/// Juju's side of the test: the unit's state, carried from hook to hook like Juju does.
struct Juju {
    leader: Context<CloudCasa>,
    follower: Context<CloudCasa>,
    state: State,
    resource_dir: tempfile::TempDir,
}

impl Juju {
    fn new(image: &str) -> Self {
        let meta = Metadata::from_charmcraft_yaml(include_str!("../charmcraft.yaml"))
            .expect("charmcraft.yaml is valid");
        let resource_dir = tempfile::tempdir().expect("temporary directory");
        let mut juju = Self {
            leader: Context::new(meta.clone()),
            follower: Context::new(meta).unit("cloudcasa/1"),
            state: State {
                leader: true,
                ..State::default()
            },
            resource_dir,
        };
        juju.attach(image);
        juju
    }

    /// `juju attach-resource cloudcasa cloudcasa-image=IMAGE`, as `resource-get` then shows it.
    fn attach(&mut self, image: &str) {
        let path = self
            .resource_dir
            .path()
            .join(image.replace(['/', ':'], "_"));
        std::fs::write(
            &path,
            format!("registrypath: {image}\nusername: ''\npassword: ''\n"),
        )
        .expect("resource file written");
        self.state.resources = BTreeMap::from([("cloudcasa-image".to_owned(), path)]);
    }

    fn configure(&mut self, cluster_id: &str) {
        self.state.config = BTreeMap::from([(
            "clusterid".to_owned(),
            ConfigValue::String(cluster_id.to_owned()),
        )]);
    }

    /// Runs `event` on the leader; the hook must succeed. Returns the status it left.
    fn leader_runs(&mut self, event: Event) -> Option<Status> {
        let name = event.to_string();
        let out = self
            .leader
            .run(event, self.state.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for line in &out.logs {
            say(&format!("  {name}: {line}"));
        }
        self.state = out;
        self.state.unit_status.clone()
    }

    fn remove(&mut self, planned_units: usize) {
        self.state.planned_units = Some(planned_units);
        self.leader_runs(Event::Remove);
        self.state.planned_units = None;
    }
}

#[test]
fn hooks_on_the_kubeconfig_cluster() {
    // The hooks run on the harness's own runtime; the checks below on this one.
    let runtime = Runtime::new().expect("tokio runtime");
    let Some(live) = runtime.block_on(Live::start("cloudcasa live_charm")) else {
        return;
    };
    let client = live.client().clone();
    let images = runtime.block_on(live.agent_images());
    let mut juju = Juju::new(&images.first);

    say("deploy without clusterid: everything but the agent, and Blocked");
    assert_eq!(
        juju.leader_runs(Event::Install),
        Some(Status::blocked(SET_ID))
    );
    runtime.block_on(live.mark_ours());
    let objects = runtime.block_on(Objects::read(&client));
    assert!(objects.namespace && objects.service_account && objects.binding);
    assert!(objects.deployment.is_none(), "{objects:?}");

    say("configure clusterid: the agent appears");
    juju.configure("abc123");
    let status = juju.leader_runs(Event::ConfigChanged);
    assert_agent_status(&status);
    let agent = runtime
        .block_on(Objects::read(&client))
        .deployment
        .expect("deployment applied");
    assert_eq!(agent.env("AMDS_CLUSTER_ID"), "abc123");
    assert_eq!(agent.image, images.first);
    assert_eq!(agent.env("KUBEMOVER_IMAGE"), images.first);
    assert_eq!(agent.owner, Some(owner()));

    say("upgrade with a new image: the agent follows");
    juju.attach(&images.second);
    assert_agent_status(&juju.leader_runs(Event::UpgradeCharm));
    let upgraded = runtime
        .block_on(Objects::read(&client))
        .deployment
        .expect("deployment still there");
    assert_eq!(upgraded.image, images.second);
    assert_eq!(upgraded.generation, agent.generation.map(|g| g + 1));

    say("update-status on the leader and on a follower: nothing changes");
    assert_agent_status(&juju.leader_runs(Event::UpdateStatus));
    let follower = juju
        .follower
        .run(
            Event::UpdateStatus,
            State {
                leader: false,
                ..juju.state.clone()
            },
        )
        .expect("follower's update-status");
    assert_agent_status(&follower.unit_status);
    assert!(
        !follower
            .tool_calls
            .iter()
            .any(|c| c.starts_with("resource-get")),
        "a follower applies nothing"
    );
    let unchanged = runtime
        .block_on(Objects::read(&client))
        .deployment
        .expect("deployment still there");
    assert_eq!(unchanged.generation, upgraded.generation);

    match &images.broken {
        Some(broken) => {
            say("the agent runs: Waiting until its deployment is available, then Active");
            juju.wait_for_status(&runtime, &live, "Active", |s| {
                matches!(s, Some(Status::Active(_)))
            });
            say("an image no registry has: Waiting again");
            juju.attach(broken);
            juju.leader_runs(Event::UpgradeCharm);
            juju.wait_for_status(&runtime, &live, "Waiting for the deployment", |s| {
                matches!(s, Some(Status::Waiting(m)) if m.starts_with(&format!("waiting for deployment {DEPLOYMENT}")))
            });
            say("the good image again: Active again");
            juju.attach(&images.second);
            juju.leader_runs(Event::UpgradeCharm);
            juju.wait_for_status(&runtime, &live, "Active", |s| {
                matches!(s, Some(Status::Active(_)))
            });
        }
        None => live.cluster.skipped(
            "the unit going Waiting -> Active -> Waiting with the agent's availability",
            live.pods
                .as_ref()
                .err()
                .map(String::as_str)
                .unwrap_or_default(),
        ),
    }

    say("stop (a pod restart) and a scale-down leave the agent alone");
    juju.leader_runs(Event::Stop);
    juju.remove(1);
    let kept = runtime.block_on(Objects::read(&client));
    assert!(kept.binding && kept.deployment.is_some(), "{kept:?}");

    say("remove the application: binding and namespace go");
    juju.remove(0);
    let removed = runtime.block_on(Objects::read(&client));
    assert!(!removed.binding, "{removed:?}");
    let terminating = runtime.block_on(namespace_terminating_or_gone(&client));
    assert!(terminating, "namespace neither terminating nor gone");
    say("remove again (another unit): still succeeds");
    juju.remove(0);
    runtime.block_on(live.wait_namespace_gone());

    say("re-install once the namespace is gone");
    let mut juju = Juju::new(&images.first);
    juju.configure("def456");
    juju.leader_runs(Event::Install);
    runtime.block_on(live.mark_ours());
    let agent = runtime
        .block_on(Objects::read(&client))
        .deployment
        .expect("the deployment re-installed");
    assert_eq!(agent.env("AMDS_CLUSTER_ID"), "def456");
    assert_agent_status(&juju.state.unit_status);

    say("clean up");
    juju.remove(0);
    runtime.block_on(live.wait_namespace_gone());
    say("done");
}

impl Juju {
    /// Runs update-status on the leader until its status is what `wanted` accepts, at most
    /// [`AVAILABLE_LIMIT`]; the failure says what the agent's pods are doing.
    fn wait_for_status(
        &mut self,
        runtime: &Runtime,
        live: &Live,
        what: &str,
        wanted: impl Fn(&Option<Status>) -> bool,
    ) {
        let deadline = Instant::now() + AVAILABLE_LIMIT;
        loop {
            let status = self.leader_runs(Event::UpdateStatus);
            if wanted(&status) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the unit is not {what} after {}s; last status {status:?}\n{}",
                    AVAILABLE_LIMIT.as_secs(),
                    runtime.block_on(live.describe_agent())
                );
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

/// With the agent applied the status is about its availability: Active, or Waiting for the
/// deployment (a cluster without nodes or controllers never runs the pod).
fn assert_agent_status(status: &Option<Status>) {
    match status {
        Some(Status::Active(_)) => {}
        Some(Status::Waiting(message))
            if message.starts_with(&format!("waiting for deployment {DEPLOYMENT}")) => {}
        other => panic!("unexpected status {other:?}"),
    }
}

async fn namespace_terminating_or_gone(client: &Client) -> bool {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(NAMESPACE).await.expect("read namespace") {
        None => true,
        Some(namespace) => namespace.meta().deletion_timestamp.is_some(),
    }
}

/// What of the agent's objects exists.
#[derive(Debug)]
struct Objects {
    namespace: bool,
    service_account: bool,
    binding: bool,
    deployment: Option<Agent>,
}

/// The parts of the deployment the test checks.
#[derive(Debug)]
struct Agent {
    image: String,
    variables: BTreeMap<String, String>,
    generation: Option<i64>,
    owner: Option<Owner>,
}

impl Agent {
    fn env(&self, name: &str) -> &str {
        self.variables
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

impl Objects {
    async fn read(client: &Client) -> Self {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
        let deployment = deployments
            .get_opt(DEPLOYMENT)
            .await
            .expect("read deployment");
        Self {
            namespace: namespaces
                .get_opt(NAMESPACE)
                .await
                .expect("read namespace")
                .is_some(),
            service_account: accounts
                .get_opt(SERVICE_ACCOUNT)
                .await
                .expect("read service account")
                .is_some(),
            binding: bindings
                .get_opt(CLUSTER_ROLE_BINDING)
                .await
                .expect("read binding")
                .is_some(),
            deployment: deployment.map(|d| agent(&d)),
        }
    }
}

fn agent(deployment: &Deployment) -> Agent {
    let container = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first());
    Agent {
        image: container.and_then(|c| c.image.clone()).unwrap_or_default(),
        variables: container
            .and_then(|c| c.env.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .collect(),
        generation: deployment.meta().generation,
        owner: deployment
            .meta()
            .labels
            .as_ref()
            .and_then(Owner::from_labels),
    }
}
