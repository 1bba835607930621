//! The exact requests of each operation, against the scripted API server of [`super::mock`].
//! Time is paused (`start_paused`): retry waits and timeouts elapse instantly and exactly.

use std::time::Duration;

use serde_json::{Value, json};

use super::mock::{self, CRB, DEPLOY, Exchange, NS, SA};
use super::*;
use crate::availability::Pending;
use crate::cluster_id::ClusterId;
use crate::objects::{self, AgentSpec};
use crate::outcome::Cause;

fn owner() -> Owner {
    Owner::new("backups", "cloudcasa").unwrap()
}

fn spec() -> AgentSpec {
    AgentSpec {
        cluster_id: ClusterId::parse("abc123").unwrap(),
        image: Image::parse("docker.io/catalogicsoftware/amds-kagent:latest").unwrap(),
        owner: owner(),
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(2),
        budget: Duration::from_secs(5),
    }
}

fn json_of(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap()
}

fn existing_namespace(owner: &Owner) -> Value {
    mock::stored(&objects::namespace(owner))
}

fn terminating_namespace() -> Value {
    mock::terminating(&objects::namespace(&owner()))
}

fn deployment_reply(available: i32) -> Value {
    mock::rolled_out(&objects::deployment(&spec()), available)
}

fn apply_namespace() -> Exchange {
    Exchange::apply(NS, json_of(&objects::namespace(&owner()))).echo()
}

fn apply_service_account() -> Exchange {
    Exchange::apply(SA, json_of(&objects::service_account(&owner()))).echo()
}

fn apply_binding() -> Exchange {
    Exchange::apply(CRB, json_of(&objects::cluster_role_binding(&owner()))).echo()
}

fn apply_deployment(available: i32) -> Exchange {
    Exchange::apply(DEPLOY, json_of(&objects::deployment(&spec()))).ok(deployment_reply(available))
}

fn namespace_absent() -> Exchange {
    Exchange::get(NS).fails(404, "NotFound", "namespaces \"cloudcasa-io\" not found")
}

/// The namespace check `check`, then everything applied with the agent available.
fn install_after(check: Exchange) -> Vec<Exchange> {
    vec![
        check,
        apply_namespace(),
        apply_service_account(),
        apply_binding(),
        apply_deployment(1),
    ]
}

async fn apply_agent(script: Vec<Exchange>) -> Result<Outcome<Applied>, ClusterError> {
    against(script, async |c| {
        c.apply(&Desired::with_agent(&spec())).await
    })
    .await
}

/// Runs `operation` against `script` and checks the script was followed exactly.
async fn against<T>(script: Vec<Exchange>, operation: impl AsyncFnOnce(&Cluster) -> T) -> T {
    let (client, verifier) = mock::pair();
    let served = verifier.run(script);
    let cluster = Cluster::new(client).with_retry(policy());
    let result = operation(&cluster).await;
    drop(cluster);
    served
        .await
        .expect("the API server saw exactly the scripted requests");
    result
}

#[tokio::test(start_paused = true)]
async fn full_apply_creates_everything_in_order() {
    let script = install_after(namespace_absent());
    let outcome = apply_agent(script).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Applied::WithAgent(Availability::Available))
    );
}

#[tokio::test(start_paused = true)]
async fn apply_bodies_are_complete_typed_objects() {
    // Server-side apply needs apiVersion and kind in the body; spell one out in full.
    let literal = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "cloudcasa-io",
            "labels": {
                "app.juju.is/created-by": "cloudcasa",
                "app.kubernetes.io/managed-by": "juju",
                "component": "kubeagent-backup-helper",
                "model.juju.is/name": "backups",
            },
        },
    });
    let script = vec![
        namespace_absent(),
        Exchange::apply(NS, literal).fails(403, "Forbidden", "no"),
    ];
    let outcome = apply_agent(script).await;
    assert!(matches!(outcome.unwrap(), Outcome::Forbidden(_)));
}

#[tokio::test(start_paused = true)]
async fn empty_cluster_id_applies_everything_but_the_deployment() {
    let script = vec![
        Exchange::get(NS).ok(existing_namespace(&owner())),
        apply_namespace(),
        apply_service_account(),
        apply_binding(),
    ];
    let outcome = against(script, async |c| {
        c.apply(&Desired::without_agent(&owner())).await
    })
    .await;
    assert_eq!(outcome.unwrap(), Outcome::Done(Applied::WithoutAgent));
}

#[tokio::test(start_paused = true)]
async fn pending_deployment_is_reported_from_the_apply_answer() {
    let script = vec![
        namespace_absent(),
        apply_namespace(),
        apply_service_account(),
        apply_binding(),
        apply_deployment(0),
    ];
    let outcome = apply_agent(script).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Applied::WithAgent(Availability::Pending(
            Pending::Unavailable {
                available: 0,
                desired: 1
            }
        )))
    );
}

#[tokio::test(start_paused = true)]
async fn forbidden_stops_at_once_without_retrying() {
    let message = "serviceaccounts \"cloudcasa-io\" is forbidden: User \"system:serviceaccount:backups:cloudcasa\" cannot patch resource \"serviceaccounts\"";
    let script = vec![
        namespace_absent(),
        apply_namespace(),
        Exchange::apply(SA, json_of(&objects::service_account(&owner()))).fails(
            403,
            "Forbidden",
            message,
        ),
    ];
    let outcome = apply_agent(script).await;
    let Ok(Outcome::Forbidden(forbidden)) = outcome else {
        panic!("expected Forbidden, got {outcome:?}");
    };
    assert_eq!(forbidden.message, message);
    assert_eq!(
        forbidden.step.to_string(),
        "apply ServiceAccount cloudcasa-io/cloudcasa-io"
    );
}

#[tokio::test(start_paused = true)]
async fn transient_error_is_retried_from_the_top_after_a_wait() {
    let mut script = vec![
        namespace_absent(),
        apply_namespace(),
        Exchange::apply(SA, json_of(&objects::service_account(&owner()))).fails(
            500,
            "InternalError",
            "etcdserver: leader changed",
        ),
    ];
    script.extend(install_after(
        Exchange::get(NS).ok(existing_namespace(&owner())),
    ));
    let start = tokio::time::Instant::now();
    let outcome = apply_agent(script).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Applied::WithAgent(Availability::Available))
    );
    assert_eq!(start.elapsed(), policy().first_delay);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_budget_is_spent() {
    // Attempts at 0s, 1s (after 1s) and 3s (after 2s); the next wait would reach 5s, the budget.
    let unavailable =
        || Exchange::get(NS).fails(503, "ServiceUnavailable", "apiserver is shutting down");
    let script = vec![unavailable(), unavailable(), unavailable()];
    let start = tokio::time::Instant::now();
    let outcome = apply_agent(script).await;
    let Err(ClusterError::Unavailable {
        step,
        cause,
        attempts,
        elapsed,
    }) = outcome
    else {
        panic!("expected Unavailable, got {outcome:?}");
    };
    assert_eq!(attempts, 3);
    assert_eq!(elapsed, Duration::from_secs(3));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(step.to_string(), "get Namespace cloudcasa-io");
    assert_eq!(
        cause.to_string(),
        "503 ServiceUnavailable: apiserver is shutting down"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_api_server_is_cut_off_at_the_budget() {
    let script = vec![
        namespace_absent(),
        apply_namespace(),
        Exchange::apply(SA, json_of(&objects::service_account(&owner()))).hang(),
    ];
    let start = tokio::time::Instant::now();
    let outcome = apply_agent(script).await;
    let Err(ClusterError::Unavailable {
        step,
        cause: Cause::TimedOut,
        attempts: 1,
        ..
    }) = outcome
    else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert_eq!(
        step.to_string(),
        "apply ServiceAccount cloudcasa-io/cloudcasa-io"
    );
    assert_eq!(start.elapsed(), policy().budget);
}

#[tokio::test(start_paused = true)]
async fn invalid_object_is_rejected_without_retrying() {
    let script = vec![
        namespace_absent(),
        apply_namespace(),
        apply_service_account(),
        apply_binding(),
        Exchange::apply(DEPLOY, json_of(&objects::deployment(&spec()))).fails(
            422,
            "Invalid",
            "Deployment.apps \"cloudcasa-kubeagent-manager\" is invalid",
        ),
    ];
    let outcome = apply_agent(script).await;
    let Err(error @ ClusterError::Rejected { .. }) = outcome else {
        panic!("expected Rejected, got {outcome:?}");
    };
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        "apply Deployment cloudcasa-io/cloudcasa-kubeagent-manager: 422 Invalid: \
         Deployment.apps \"cloudcasa-kubeagent-manager\" is invalid"
    );
}

#[tokio::test(start_paused = true)]
async fn reinstall_waits_for_the_old_namespace_to_go() {
    let mut script = vec![Exchange::get(NS).ok(terminating_namespace())];
    script.extend(install_after(namespace_absent()));
    let outcome = apply_agent(script).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Applied::WithAgent(Availability::Available))
    );
}

#[tokio::test(start_paused = true)]
async fn namespace_terminating_403_is_retried_not_blocked() {
    let terminating = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
        "message": "serviceaccounts \"cloudcasa-io\" is forbidden: unable to create new content in namespace cloudcasa-io because it is being terminated",
        "details": {"name": "cloudcasa-io", "kind": "serviceaccounts", "causes": [{
            "reason": "NamespaceTerminating", "field": "metadata.namespace",
            "message": "namespace cloudcasa-io is being terminated",
        }]},
    });
    let script = vec![
        Exchange::get(NS).ok(existing_namespace(&owner())),
        apply_namespace(),
        Exchange::apply(SA, json_of(&objects::service_account(&owner()))).fails_with(terminating),
        namespace_absent(),
        apply_namespace(),
        apply_service_account(),
        apply_binding(),
    ];
    let outcome = against(script, async |c| {
        c.apply(&Desired::without_agent(&owner())).await
    })
    .await;
    assert_eq!(outcome.unwrap(), Outcome::Done(Applied::WithoutAgent));
}

#[tokio::test(start_paused = true)]
async fn objects_of_another_application_are_left_alone() {
    let other = Owner::new("prod", "cloudcasa").unwrap();
    let script = vec![Exchange::get(NS).ok(existing_namespace(&other))];
    let outcome = apply_agent(script).await;
    assert_eq!(outcome.unwrap(), Outcome::OwnedByOther(other.clone()));

    let script = vec![Exchange::get(NS).ok(existing_namespace(&other))];
    let outcome = against(script, async |c| c.remove(&owner()).await).await;
    assert_eq!(outcome.unwrap(), Outcome::OwnedByOther(other));
}

#[tokio::test(start_paused = true)]
async fn unlabelled_objects_of_the_original_charm_are_adopted() {
    let python_charm = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "cloudcasa-io", "labels": {"component": "kubeagent-backup-helper"}},
    });
    let script = install_after(Exchange::get(NS).ok(python_charm));
    let outcome = apply_agent(script).await;
    assert!(matches!(
        outcome.unwrap(),
        Outcome::Done(Applied::WithAgent(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn remove_deletes_binding_then_namespace() {
    let script = vec![
        Exchange::get(NS).ok(existing_namespace(&owner())),
        Exchange::delete(CRB)
            .ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        Exchange::delete(NS).ok(terminating_namespace()),
    ];
    let outcome = against(script, async |c| c.remove(&owner()).await).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Removed {
            cluster_role_binding: Deletion::Deleted,
            namespace: Deletion::Deleted
        })
    );
}

#[tokio::test(start_paused = true)]
async fn remove_is_idempotent() {
    let script = vec![
        namespace_absent(),
        Exchange::delete(CRB).fails(
            404,
            "NotFound",
            "clusterrolebindings \"cloudcasa-io\" not found",
        ),
    ];
    let outcome = against(script, async |c| c.remove(&owner()).await).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Removed {
            cluster_role_binding: Deletion::AlreadyGone,
            namespace: Deletion::AlreadyGone
        })
    );

    // A second remove while the first namespace deletion is still running.
    let script = vec![
        Exchange::get(NS).ok(terminating_namespace()),
        Exchange::delete(CRB).fails(404, "NotFound", "gone"),
    ];
    let outcome = against(script, async |c| c.remove(&owner()).await).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Removed {
            cluster_role_binding: Deletion::AlreadyGone,
            namespace: Deletion::AlreadyDeleting
        })
    );
}

#[tokio::test(start_paused = true)]
async fn remove_without_permissions_is_forbidden() {
    let script = vec![
        Exchange::get(NS).ok(existing_namespace(&owner())),
        Exchange::delete(CRB).fails(403, "Forbidden", "cannot delete clusterrolebindings"),
    ];
    let outcome = against(script, async |c| c.remove(&owner()).await).await;
    assert!(
        matches!(outcome.unwrap(), Outcome::Forbidden(f) if f.step.to_string() == "delete ClusterRoleBinding cloudcasa-io")
    );
}

#[tokio::test(start_paused = true)]
async fn availability_reads_the_deployment() {
    let script = vec![Exchange::get(DEPLOY).ok(deployment_reply(1))];
    let outcome = against(script, async |c| c.availability(&owner()).await).await;
    assert_eq!(outcome.unwrap(), Outcome::Done(Availability::Available));

    let script = vec![Exchange::get(DEPLOY).ok(deployment_reply(0))];
    let outcome = against(script, async |c| c.availability(&owner()).await).await;
    assert_eq!(
        outcome.unwrap(),
        Outcome::Done(Availability::Pending(Pending::Unavailable {
            available: 0,
            desired: 1
        }))
    );

    let script = vec![Exchange::get(DEPLOY).fails(404, "NotFound", "not found")];
    let outcome = against(script, async |c| c.availability(&owner()).await).await;
    assert_eq!(outcome.unwrap(), Outcome::Done(Availability::Missing));

    let script = vec![Exchange::get(DEPLOY).fails(403, "Forbidden", "cannot get deployments")];
    let outcome = against(script, async |c| c.availability(&owner()).await).await;
    assert!(matches!(outcome.unwrap(), Outcome::Forbidden(_)));
}

#[tokio::test(start_paused = true)]
async fn charm_image_comes_from_the_units_own_pod() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cloudcasa-0", "namespace": "backups"},
        "spec": {"containers": [
            {"name": "charm", "image": "jujusolutions/charm-base:ubuntu-22.04"},
            {"name": "cloudcasa", "image": "docker.io/catalogicsoftware/amds-kagent:3.1.0"},
        ]},
    });
    let unit = UnitName::parse("cloudcasa/0").unwrap();
    let script = vec![Exchange::get("/api/v1/namespaces/backups/pods/cloudcasa-0").ok(pod)];
    let outcome = against(script, async |c| c.charm_image("backups", &unit).await).await;
    assert_eq!(
        outcome.unwrap(),
        Ok(Image::parse("docker.io/catalogicsoftware/amds-kagent:3.1.0").unwrap())
    );

    let pod_without_workload = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cloudcasa-0"},
        "spec": {"containers": [{"name": "charm", "image": "x"}]},
    });
    let script =
        vec![Exchange::get("/api/v1/namespaces/backups/pods/cloudcasa-0").ok(pod_without_workload)];
    let outcome = against(script, async |c| c.charm_image("backups", &unit).await).await;
    assert_eq!(
        outcome.unwrap_err().to_string(),
        "finding the agent image: pod cloudcasa-0 has no container \"cloudcasa\""
    );

    let script = vec![
        Exchange::get("/api/v1/namespaces/backups/pods/cloudcasa-0").fails(
            403,
            "Forbidden",
            "pods \"cloudcasa-0\" is forbidden",
        ),
    ];
    let outcome = against(script, async |c| c.charm_image("backups", &unit).await).await;
    let forbidden = outcome.unwrap().unwrap_err();
    assert_eq!(forbidden.message, "pods \"cloudcasa-0\" is forbidden");
}
