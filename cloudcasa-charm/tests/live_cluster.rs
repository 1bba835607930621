//! The whole lifecycle against the real cluster named by `KUBECONFIG` (microk8s, kind, k3s, or
//! a bare API server without nodes or controllers): install without and with `clusterid`,
//! re-apply (no changes), change `clusterid`, missing permissions, remove (twice), re-install.
//!
//! Without `KUBECONFIG` the test says it was skipped and passes: there is no cluster to test.
//! It uses the cluster-wide objects' real names (`cloudcasa-io`), labelled as owned by model
//! `cloudcasa-charm-test`, and refuses to start if anyone else owns them.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p cloudcasa-charm --test live_cluster -- --nocapture
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

fn say(line: &str) {
    live::say("live_cluster", line);
}

fn owner() -> Owner {
    Owner::new("cloudcasa-charm-test", "cloudcasa").unwrap()
}

fn spec(cluster_id: &str) -> AgentSpec {
    AgentSpec {
        cluster_id: ClusterId::parse(cluster_id).unwrap(),
        image: Image::parse("docker.io/catalogicsoftware/amds-kagent:latest").unwrap(),
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

#[tokio::test]
async fn lifecycle_on_the_kubeconfig_cluster() {
    if std::env::var_os("KUBECONFIG").is_none() {
        say("SKIPPED: KUBECONFIG is not set, so no cluster was given to test against");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::infer()
        .await
        .expect("KUBECONFIG names a usable cluster");
    let client = Client::try_from(config.clone()).expect("client from KUBECONFIG");
    let cluster = Cluster::new(client.clone()).with_retry(policy());
    live::refuse_foreign_objects(&client, &owner()).await;

    say("start from a clean slate");
    cluster.remove(&owner()).await.expect("cleanup");
    if !live::namespace_gone_within(&client, Duration::from_secs(120)).await {
        // A bare API server has no namespace controller: the deletion of a previous run never
        // completes, and installing must say so rather than pretend.
        let impatient = Cluster::new(client.clone()).with_retry(RetryPolicy {
            budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        });
        let err = impatient
            .apply(&Desired::with_agent(&spec("abc123")))
            .await
            .expect_err("cannot install while the namespace is terminating");
        assert!(
            matches!(
                err,
                ClusterError::Unavailable {
                    cause: Cause::NamespaceTerminating(_),
                    ..
                }
            ),
            "{err}"
        );
        say(
            "namespace cloudcasa-io of a previous run is stuck terminating (no namespace controller); install reports it as it should; nothing more can be checked on this cluster",
        );
        return;
    }

    say("install with clusterid unset: everything but the deployment");
    let outcome = cluster
        .apply(&Desired::without_agent(&owner()))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Done(Applied::WithoutAgent));
    let before = Versions::read(&client).await;
    assert!(
        before.deployment_generation.is_none(),
        "no deployment without clusterid"
    );

    say("configure clusterid: the deployment appears");
    let outcome = cluster
        .apply(&Desired::with_agent(&spec("abc123")))
        .await
        .unwrap();
    let Outcome::Done(Applied::WithAgent(availability)) = outcome else {
        panic!("expected the agent applied, got {outcome:?}");
    };
    say(&format!(
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

    say("apply again: nothing changes");
    let applied = Versions::read(&client).await;
    cluster
        .apply(&Desired::with_agent(&spec("abc123")))
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

    say("change clusterid: the deployment rolls");
    cluster
        .apply(&Desired::with_agent(&spec("def456")))
        .await
        .unwrap();
    let deployment = deployments(&client).get(DEPLOYMENT).await.unwrap();
    assert_eq!(env(&deployment, "AMDS_CLUSTER_ID"), "def456");
    assert_eq!(
        deployment.meta().generation,
        applied.deployment_generation.map(|g| g + 1)
    );
    let read = cluster.availability(&owner()).await.unwrap();
    say(&format!("availability as a non-leader reads it: {read:?}"));
    assert!(matches!(read, Outcome::Done(a) if a != Availability::Missing));

    check_missing_permissions(config).await;

    say("remove, twice");
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

    say("re-install right away: waits for the old namespace to go");
    match cluster.apply(&Desired::with_agent(&spec("def456"))).await {
        Ok(outcome) => {
            assert!(
                matches!(outcome, Outcome::Done(Applied::WithAgent(_))),
                "{outcome:?}"
            );
            let deployment = deployments(&client).get(DEPLOYMENT).await.unwrap();
            assert_eq!(env(&deployment, "AMDS_CLUSTER_ID"), "def456");
            cluster.remove(&owner()).await.unwrap();
        }
        Err(ClusterError::Unavailable {
            cause: Cause::NamespaceTerminating(_),
            ..
        }) => {
            say(
                "the namespace never finished deleting (no namespace controller): re-install reported it",
            );
        }
        Err(other) => panic!("re-install: {other}"),
    }
    say("done");
}

/// Impersonating a user with no rights, apply and remove must report Forbidden.
async fn check_missing_permissions(mut config: Config) {
    say("missing permissions: impersonate a service account with no rights");
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
        say(
            "this cluster authorizes everyone (no RBAC): the Forbidden path cannot be exercised here",
        );
        return;
    }
    let weak = Cluster::new(client).with_retry(policy());
    let outcome = weak
        .apply(&Desired::with_agent(&spec("abc123")))
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
