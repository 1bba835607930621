//! The whole lifecycle against the real cluster named by `KUBECONFIG` (microk8s, kind, k3s, or
//! a bare API server without nodes or controllers): install without and with `clusterid`,
//! re-apply (no changes), change `clusterid`, the agent becoming available and unavailable,
//! missing permissions, remove (twice), re-install.
//!
//! Without `KUBECONFIG` the test says it was skipped and passes: there is no cluster to test.
//! It uses the cluster-wide objects' real names (`cloudcasa-io`), labelled as owned by model
//! `cloudcasa-charm-test`, under the `cloudcasa` cluster lock, and refuses to start if an
//! installation no test made is there. The agent's pods run only where the cluster can run
//! pods (a Ready node and `TEST_CLUSTER_REGISTRY`, see `kube-testing`); elsewhere one line
//! says that availability was not checked.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config TEST_CLUSTER_REGISTRY=localhost:32000 \
//!     cargo test -p cloudcasa-charm --test live_cluster -- --nocapture
//! ```

mod live;

use std::time::Duration;

use cloudcasa_charm::availability::Availability;
use cloudcasa_charm::cluster::{Applied, Cluster, Deletion, Removed};
use cloudcasa_charm::cluster_id::ClusterId;
use cloudcasa_charm::image::Image;
use cloudcasa_charm::objects::{
    AgentSpec, CLUSTER_ROLE_BINDING, DEPLOYMENT, Desired, NAMESPACE, SERVICE_ACCOUNT,
};
use cloudcasa_charm::outcome::{Cause, ClusterError, Outcome};
use cloudcasa_charm::owner::Owner;
use cloudcasa_charm::retry::RetryPolicy;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::PostParams;
use kube::{Api, Client, Config, Resource};
use kube_testing::wait;
use live::{AVAILABLE_LIMIT, Live};

fn owner() -> Owner {
    Owner::new("cloudcasa-charm-test", "cloudcasa").unwrap()
}

fn spec(cluster_id: &str, image: &str) -> AgentSpec {
    AgentSpec {
        cluster_id: ClusterId::parse(cluster_id).unwrap(),
        image: Image::parse(image).unwrap(),
        owner: owner(),
    }
}

/// Long enough for a namespace with a running pod to finish deleting.
fn policy() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(120),
        ..RetryPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_the_kubeconfig_cluster() {
    let Some(live) = Live::start("cloudcasa live_cluster").await else {
        return;
    };
    let client = live.client().clone();
    let cluster = Cluster::new(client.clone()).with_retry(policy());
    let images = live.agent_images().await;

    live.say("install with clusterid unset: everything but the deployment");
    let outcome = cluster
        .apply(&Desired::without_agent(&owner()))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Done(Applied::WithoutAgent));
    live.mark_ours().await;
    let before = Versions::read(&client).await;
    assert!(
        before.deployment_generation.is_none(),
        "no deployment without clusterid"
    );

    live.say("configure clusterid: the deployment appears");
    let outcome = cluster
        .apply(&Desired::with_agent(&spec("abc123", &images.first)))
        .await
        .unwrap();
    let Outcome::Done(Applied::WithAgent(availability)) = outcome else {
        panic!("expected the agent applied, got {outcome:?}");
    };
    live.say(&format!(
        "deployment availability right after apply: {availability:?}"
    ));
    assert_ne!(availability, Availability::Missing);
    let deployment = deployments(&client).get(DEPLOYMENT).await.unwrap();
    assert_eq!(env(&deployment, "AMDS_CLUSTER_ID"), "abc123");
    assert_eq!(
        Owner::from_labels(deployment.meta().labels.as_ref().unwrap()),
        Some(owner())
    );
    let managers: Vec<_> = deployment
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|f| f.operation.as_deref() == Some("Apply"))
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(managers, ["cloudcasa-charm"]);

    live.say("apply again: nothing changes");
    let applied = Versions::read(&client).await;
    cluster
        .apply(&Desired::with_agent(&spec("abc123", &images.first)))
        .await
        .unwrap();
    let reapplied = Versions::read(&client).await;
    assert_eq!(
        applied, reapplied,
        "re-applying the same objects changed them"
    );
    assert_eq!(
        (&before.namespace, &before.service_account, &before.binding),
        (
            &applied.namespace,
            &applied.service_account,
            &applied.binding
        ),
        "adding the deployment changed the other objects"
    );

    live.say("change clusterid: the deployment rolls");
    cluster
        .apply(&Desired::with_agent(&spec("def456", &images.first)))
        .await
        .unwrap();
    let deployment = deployments(&client).get(DEPLOYMENT).await.unwrap();
    assert_eq!(env(&deployment, "AMDS_CLUSTER_ID"), "def456");
    assert_eq!(
        deployment.meta().generation,
        applied.deployment_generation.map(|g| g + 1)
    );
    let read = cluster.availability(&owner()).await.unwrap();
    live.say(&format!("availability as a non-leader reads it: {read:?}"));
    assert!(matches!(read, Outcome::Done(a) if a != Availability::Missing));

    match &images.broken {
        Some(broken) => check_availability(&live, &cluster, broken).await,
        None => live.cluster.skipped(
            "the agent becoming available, then unavailable with an image no registry has",
            live.pods
                .as_ref()
                .err()
                .map(String::as_str)
                .unwrap_or_default(),
        ),
    }

    check_missing_permissions(live.cluster.config.clone(), &images.first).await;

    live.say("remove, twice");
    let outcome = cluster.remove(&owner()).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Done(Removed {
            cluster_role_binding: Deletion::Deleted,
            namespace: Deletion::Deleted
        })
    );
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    assert!(
        bindings
            .get_opt(CLUSTER_ROLE_BINDING)
            .await
            .unwrap()
            .is_none()
    );
    let again = cluster.remove(&owner()).await.unwrap();
    let Outcome::Done(Removed {
        cluster_role_binding: Deletion::AlreadyGone,
        namespace,
    }) = again
    else {
        panic!("second remove: {again:?}");
    };
    assert_ne!(namespace, Deletion::Deleted);

    live.say("re-install right away: waits for the old namespace to go, or says it is terminating");
    let impatient = Cluster::new(client.clone()).with_retry(RetryPolicy {
        budget: Duration::from_secs(30),
        ..RetryPolicy::default()
    });
    match impatient
        .apply(&Desired::with_agent(&spec("def456", &images.second)))
        .await
    {
        Ok(outcome) => assert!(
            matches!(outcome, Outcome::Done(Applied::WithAgent(_))),
            "{outcome:?}"
        ),
        Err(ClusterError::Unavailable {
            cause: Cause::NamespaceTerminating(_),
            ..
        }) => {
            live.say(
                "the namespace was still terminating (no namespace controller?): re-install said so; \
                 waiting for it to go, then installing again",
            );
            live.wait_namespace_gone().await;
            let outcome = cluster
                .apply(&Desired::with_agent(&spec("def456", &images.second)))
                .await
                .unwrap();
            assert!(
                matches!(outcome, Outcome::Done(Applied::WithAgent(_))),
                "{outcome:?}"
            );
        }
        Err(other) => panic!("re-install: {other}"),
    }
    live.mark_ours().await;
    let deployment = deployments(&client).get(DEPLOYMENT).await.unwrap();
    assert_eq!(env(&deployment, "AMDS_CLUSTER_ID"), "def456");
    assert_eq!(env(&deployment, "KUBEMOVER_IMAGE"), images.second);

    live.say("clean up");
    cluster.remove(&owner()).await.unwrap();
    live.wait_namespace_gone().await;
    live.say("done");
}

/// On a cluster that runs pods: the deployment becomes Available (the deployment controller
/// says so, nobody else writes its status), an image no registry has makes it unavailable
/// again, and the good image brings it back.
async fn check_availability(live: &Live, cluster: &Cluster, broken: &str) {
    live.say("the agent's pod runs: the deployment becomes available");
    wait_availability(live, cluster, "the agent to be available", |a| {
        *a == Availability::Available
    })
    .await;
    live.say("an image no registry has: unavailable");
    cluster
        .apply(&Desired::with_agent(&spec("def456", broken)))
        .await
        .unwrap();
    wait_availability(live, cluster, "the agent to be unavailable", |a| {
        matches!(a, Availability::Pending(_))
    })
    .await;
}

async fn wait_availability(
    live: &Live,
    cluster: &Cluster,
    what: &str,
    wanted: impl Fn(&Availability) -> bool,
) {
    let wanted = &wanted;
    let result = wait::until(
        what,
        AVAILABLE_LIMIT,
        Duration::from_secs(2),
        || async move {
            match cluster.availability(&owner()).await {
                Ok(Outcome::Done(a)) if wanted(&a) => Ok(()),
                Ok(other) => Err(format!("availability {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    if let Err(timeout) = result {
        panic!("{timeout}\n{}", live.describe_agent().await);
    }
}

fn live_say(line: &str) {
    kube_testing::report::say("cloudcasa live_cluster", line);
}

/// Impersonating a user with no rights, apply and remove must report Forbidden.
async fn check_missing_permissions(mut config: Config, image: &str) {
    live_say("missing permissions: impersonate a service account with no rights");
    config.auth_info.impersonate =
        Some("system:serviceaccount:default:cloudcasa-charm-test-nobody".into());
    let client = Client::try_from(config).unwrap();
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some("patch".into()),
                resource: Some("namespaces".into()),
                name: Some(NAMESPACE.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let allowed = match reviews.create(&PostParams::default(), &review).await {
        Ok(answer) => answer.status.is_some_and(|s| s.allowed),
        // Not even allowed to impersonate: every request below is a 403 all the same.
        Err(kube::Error::Api(status)) if status.code == 403 => false,
        Err(other) => panic!("access review: {other}"),
    };
    if allowed {
        live_say(
            "this cluster authorizes everyone (no RBAC): the Forbidden path cannot be exercised here",
        );
        return;
    }
    let weak = Cluster::new(client).with_retry(policy());
    let outcome = weak
        .apply(&Desired::with_agent(&spec("abc123", image)))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Forbidden(_)), "{outcome:?}");
    let outcome = weak.remove(&owner()).await.unwrap();
    assert!(matches!(outcome, Outcome::Forbidden(_)), "{outcome:?}");
}

fn deployments(client: &Client) -> Api<Deployment> {
    Api::namespaced(client.clone(), NAMESPACE)
}

fn env(deployment: &Deployment, name: &str) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == name))
        .and_then(|e| e.value.clone())
        .unwrap_or_default()
}

/// What changes when an object is written: resource versions, and for the deployment (whose
/// status the controller keeps updating) the generation, which only spec changes bump.
#[derive(Debug, PartialEq)]
struct Versions {
    namespace: Option<String>,
    service_account: Option<String>,
    binding: Option<String>,
    deployment_generation: Option<i64>,
}

impl Versions {
    async fn read(client: &Client) -> Self {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        let version = |meta: &kube::api::ObjectMeta| meta.resource_version.clone();
        Self {
            namespace: namespaces
                .get(NAMESPACE)
                .await
                .ok()
                .and_then(|o| version(o.meta())),
            service_account: accounts
                .get(SERVICE_ACCOUNT)
                .await
                .ok()
                .and_then(|o| version(o.meta())),
            binding: bindings
                .get(CLUSTER_ROLE_BINDING)
                .await
                .ok()
                .and_then(|o| version(o.meta())),
            deployment_generation: deployments(client)
                .get_opt(DEPLOYMENT)
                .await
                .expect("read deployment")
                .and_then(|d| d.meta().generation),
        }
    }
}
