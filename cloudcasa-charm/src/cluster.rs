//! Keeping the agent's objects applied on the cluster, and reading back how they are doing.
//!
//! Every operation retries inside the call (see [`crate::retry`]) and reports either an
//! [`Outcome`] or a [`ClusterError`]. Before changing anything, operations look at the
//! namespace: one labelled by another Juju application is left alone
//! ([`Outcome::OwnedByOther`]); one still terminating after a `remove` is waited for.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::{Api, Client};

use crate::availability::{Availability, availability};
use crate::image::{CHARM_CONTAINER, Image, UnitName, container_image};
use crate::objects::{CLUSTER_ROLE_BINDING, DEPLOYMENT, Desired, NAMESPACE, SERVICE_ACCOUNT};
use crate::outcome::{Cause, ClusterError, Forbidden, Outcome, Step, Verb};
use crate::owner::Owner;
use crate::retry::{Failure, Requests, RetryPolicy, retrying};

/// The server-side apply field manager: stable, so that every hook updates the same
/// managed fields instead of piling up owners.
pub const FIELD_MANAGER: &str = "cloudcasa-charm";

/// What [`Cluster::apply`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Namespace, service account and binding; no deployment was asked for.
    WithoutAgent,
    /// Everything, and the deployment's availability as the API server returned it.
    WithAgent(Availability),
}

/// What [`Cluster::remove`] did to each object it deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// The cluster role binding.
    pub cluster_role_binding: Deletion,
    /// The namespace, which takes the service account and deployment with it.
    pub namespace: Deletion,
}

/// What happened to one object on removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deletion requested now.
    Deleted,
    /// A deletion was already under way.
    AlreadyDeleting,
    /// There was nothing to delete.
    AlreadyGone,
}

/// The cluster the charm runs on, reached with the charm's own credentials.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    retry: RetryPolicy,
}

impl Cluster {
    /// Uses `client` with the default [`RetryPolicy`].
    pub fn new(client: Client) -> Self {
        Self {
            client,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy (tests use short budgets).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Applies `desired` in dependency order: namespace, service account, binding, then the
    /// deployment if there is one. When `desired` has no deployment an existing one is left
    /// as it is: clearing `clusterid` by mistake should not stop a registered agent.
    pub async fn apply(&self, desired: &Desired) -> Result<Outcome<Applied>, ClusterError> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), NAMESPACE);
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client.clone());
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), NAMESPACE);
        retrying(
            &self.retry,
            FIELD_MANAGER,
            async |requests: &Requests<'_>| {
                match namespace_state(requests, &namespaces, desired.owner()).await? {
                    NamespaceState::OwnedByOther(owner) => return Ok(Outcome::OwnedByOther(owner)),
                    // Applying now would only touch an object about to vanish.
                    NamespaceState::Terminating => return Err(terminating(Verb::Apply)),
                    NamespaceState::Absent | NamespaceState::Ours => {}
                }
                requests
                    .apply(&namespaces, NAMESPACE, desired.namespace())
                    .await?;
                requests
                    .apply(&accounts, SERVICE_ACCOUNT, desired.service_account())
                    .await?;
                requests
                    .apply(
                        &bindings,
                        CLUSTER_ROLE_BINDING,
                        desired.cluster_role_binding(),
                    )
                    .await?;
                let Some(deployment) = desired.deployment() else {
                    return Ok(Outcome::Done(Applied::WithoutAgent));
                };
                let applied = requests.apply(&deployments, DEPLOYMENT, deployment).await?;
                Ok(Outcome::Done(Applied::WithAgent(availability(&applied))))
            },
        )
        .await
    }

    /// Reads the deployment's availability without changing anything: what non-leader units
    /// report, and what update-status re-checks.
    pub async fn availability(&self, owner: &Owner) -> Result<Outcome<Availability>, ClusterError> {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), NAMESPACE);
        retrying(
            &self.retry,
            FIELD_MANAGER,
            async |requests: &Requests<'_>| {
                let Some(deployment) = requests.get(&deployments, DEPLOYMENT).await? else {
                    return Ok(Outcome::Done(Availability::Missing));
                };
                if let Some(other) = other_owner(deployment.metadata.labels.as_ref(), owner) {
                    return Ok(Outcome::OwnedByOther(other));
                }
                Ok(Outcome::Done(availability(&deployment)))
            },
        )
        .await
    }

    /// Deletes the cluster role binding and the namespace (which owns everything else).
    /// Idempotent: objects already gone or going are fine. Objects another application owns
    /// are left alone.
    pub async fn remove(&self, owner: &Owner) -> Result<Outcome<Removed>, ClusterError> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client.clone());
        retrying(
            &self.retry,
            FIELD_MANAGER,
            async |requests: &Requests<'_>| {
                let state = namespace_state(requests, &namespaces, owner).await?;
                if let NamespaceState::OwnedByOther(other) = state {
                    return Ok(Outcome::OwnedByOther(other));
                }
                let cluster_role_binding =
                    deletion(requests.delete(&bindings, CLUSTER_ROLE_BINDING).await?);
                let namespace = match state {
                    // Deleting a terminating namespace is answered with 409 Conflict.
                    NamespaceState::Terminating => Deletion::AlreadyDeleting,
                    NamespaceState::Absent => Deletion::AlreadyGone,
                    _ => deletion(requests.delete(&namespaces, NAMESPACE).await?),
                };
                Ok(Outcome::Done(Removed {
                    cluster_role_binding,
                    namespace,
                }))
            },
        )
        .await
    }

    /// The image of the charm's `cloudcasa` container: the `cloudcasa-image` resource.
    /// `model_namespace` is the Juju model's namespace (`JUJU_MODEL_NAME`), `unit` the unit
    /// running this hook (`JUJU_UNIT_NAME`); the unit's pod is found from them. `Ok(Err(_))`
    /// when reading the pod is refused (pods have no owner labels: no other outcome exists).
    pub async fn charm_image(
        &self,
        model_namespace: &str,
        unit: &UnitName,
    ) -> Result<Result<Image, Forbidden>, ClusterError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), model_namespace);
        let pod_name = unit.pod_name();
        let pod = retrying(
            &self.retry,
            FIELD_MANAGER,
            async |requests: &Requests<'_>| {
                // The unit's own pod is running this code: absence is a passing oddity (a stale
                // cache in front of the API server), so it goes through the retries.
                match requests.get(&pods, &pod_name).await? {
                    Some(pod) => Ok(Outcome::Done(pod)),
                    None => Err(Failure::Transient(
                        Step::new(Verb::Get, "Pod", Some(model_namespace), &pod_name),
                        Cause::NotFound,
                    )),
                }
            },
        )
        .await?;
        match pod {
            Outcome::Done(pod) => Ok(Ok(container_image(&pod, CHARM_CONTAINER)?)),
            Outcome::Forbidden(forbidden) => Ok(Err(forbidden)),
            Outcome::OwnedByOther(owner) => unreachable!("the pod closure never reports {owner}"),
        }
    }
}

enum NamespaceState {
    Absent,
    /// Ours, or unlabelled (created by the original charm or by hand: we adopt it).
    Ours,
    OwnedByOther(Owner),
    Terminating,
}

async fn namespace_state(
    requests: &Requests<'_>,
    namespaces: &Api<Namespace>,
    owner: &Owner,
) -> Result<NamespaceState, Failure> {
    let Some(namespace) = requests.get(namespaces, NAMESPACE).await? else {
        return Ok(NamespaceState::Absent);
    };
    if let Some(other) = other_owner(namespace.metadata.labels.as_ref(), owner) {
        return Ok(NamespaceState::OwnedByOther(other));
    }
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(NamespaceState::Terminating);
    }
    Ok(NamespaceState::Ours)
}

fn other_owner(
    labels: Option<&std::collections::BTreeMap<String, String>>,
    owner: &Owner,
) -> Option<Owner> {
    labels
        .and_then(Owner::from_labels)
        .filter(|found| found != owner)
}

fn terminating(verb: Verb) -> Failure {
    Failure::Transient(
        Step::new(verb, "Namespace", None, NAMESPACE),
        Cause::NamespaceTerminating(NAMESPACE.to_owned()),
    )
}

fn deletion(deleted: bool) -> Deletion {
    if deleted {
        Deletion::Deleted
    } else {
        Deletion::AlreadyGone
    }
}

#[cfg(test)]
pub(crate) mod mock;
#[cfg(test)]
mod tests;
