//! [`Desired`] brought to the API server: server-side apply in dependency order, deletion of
//! what is no longer wanted, a 403 as an [`Outcome`] rather than an error.

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Admission, Desired, FIELD_MANAGER, Owner};

/// What the charm was doing to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Apply,
    Delete,
}

impl Verb {
    /// `apply`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Apply => "apply",
            Verb::Delete => "delete",
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Verb::Apply => "applying",
            Verb::Delete => "deleting",
        }
    }
}

/// What applying or removing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every object is applied (or removed).
    Done,
    /// The API server refused (403): the application is not trusted cluster-wide.
    Forbidden {
        verb: Verb,
        object: String,
        message: String,
    },
}

/// The API server failed for another reason (unreachable, 5xx, rejected object).
#[derive(Debug, thiserror::Error)]
#[error("{} {object}: {source}", .verb.doing())]
pub struct ApplyError {
    pub verb: Verb,
    pub object: String,
    #[source]
    pub source: kube::Error,
}

/// One object the API server did not take.
struct Failure {
    verb: Verb,
    object: String,
    source: kube::Error,
}

/// A refusal is an outcome the charm reports; any other failure is an error.
fn refused(f: Failure) -> Result<Outcome, ApplyError> {
    match &f.source {
        kube::Error::Api(status) if status.code == 403 => Ok(Outcome::Forbidden {
            verb: f.verb,
            object: f.object,
            message: status.message.clone(),
        }),
        _ => Err(ApplyError {
            verb: f.verb,
            object: f.object,
            source: f.source,
        }),
    }
}

/// Applies `desired` in dependency order: the CRD, roles, bindings, then (admission on) the
/// webhook's Service and, last, its configuration, so that the API server calls nothing that
/// is not there yet. With admission off, its objects are deleted instead.
pub async fn apply(
    client: &Client,
    owner: &Owner,
    desired: &Desired,
) -> Result<Outcome, ApplyError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let a = &desired.admission;
    let mut steps: Vec<Step<'_>> = vec![Step::Crd(&desired.crd)];
    steps.extend(desired.cluster_roles.iter().map(Step::ClusterRole));
    steps.extend(when(a.on, &a.cluster_roles).iter().map(Step::ClusterRole));
    steps.extend(desired.roles.iter().map(Step::Role));
    steps.extend(when(a.on, &a.roles).iter().map(Step::Role));
    steps.extend(
        desired
            .cluster_role_bindings
            .iter()
            .map(Step::ClusterRoleBinding),
    );
    steps.extend(
        when(a.on, &a.cluster_role_bindings)
            .iter()
            .map(Step::ClusterRoleBinding),
    );
    steps.extend(desired.role_bindings.iter().map(Step::RoleBinding));
    steps.extend(when(a.on, &a.role_bindings).iter().map(Step::RoleBinding));
    if a.on {
        steps.push(Step::Service(&a.service));
        steps.push(Step::Webhook(&a.configuration));
    }
    for step in steps {
        if let Err(failure) = step.apply(client, &owner.model, &params).await {
            return refused(failure);
        }
    }
    if !a.on {
        let mut results = Vec::new();
        delete_admission(client, owner, a, &mut results).await;
        return first_failure(results);
    }
    Ok(Outcome::Done)
}

/// Deletes what [`apply`] made but the CRD, whose deletion would delete every backup record:
/// the admission webhook's objects (the configuration first, whatever the setting), then the
/// roles and bindings (the rollout binding included, whatever the setting), bindings first.
pub async fn remove(
    client: &Client,
    owner: &Owner,
    desired: &Desired,
) -> Result<Outcome, ApplyError> {
    let mut all = desired.clone();
    // Everything ever applied: the rollout binding may be left from an earlier setting.
    all.cluster_role_bindings = Desired::new(owner, true)
        .map(|d| d.cluster_role_bindings)
        .unwrap_or(all.cluster_role_bindings);
    let mut results = Vec::new();
    delete_admission(client, owner, &all.admission, &mut results).await;
    let rbac = Rbac {
        cluster_role_bindings: &all.cluster_role_bindings,
        role_bindings: &all.role_bindings,
        cluster_roles: &all.cluster_roles,
        roles: &all.roles,
    };
    rbac.delete(client, &owner.model, &mut results).await;
    first_failure(results)
}

/// Deletes the webhook's configuration (first: from then on the API server calls nothing),
/// its Service, and the roles and bindings only admission needs.
async fn delete_admission(
    client: &Client,
    owner: &Owner,
    a: &Admission,
    results: &mut Vec<Result<(), Failure>>,
) {
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    results.push(delete(&configurations, &a.names.configuration).await);
    let services: Api<Service> = Api::namespaced(client.clone(), &owner.model);
    results.push(delete(&services, &a.names.service).await);
    let rbac = Rbac {
        cluster_role_bindings: &a.cluster_role_bindings,
        role_bindings: &a.role_bindings,
        cluster_roles: &a.cluster_roles,
        roles: &a.roles,
    };
    rbac.delete(client, &owner.model, results).await;
}

/// Roles and bindings to delete.
struct Rbac<'a> {
    cluster_role_bindings: &'a [ClusterRoleBinding],
    role_bindings: &'a [RoleBinding],
    cluster_roles: &'a [ClusterRole],
    roles: &'a [Role],
}

impl Rbac<'_> {
    /// Bindings first: no moment with a binding to a role that is gone.
    async fn delete(
        &self,
        client: &Client,
        namespace: &str,
        results: &mut Vec<Result<(), Failure>>,
    ) {
        let c = client;
        delete_each(&Api::all(c.clone()), self.cluster_role_bindings, results).await;
        let bindings = Api::namespaced(c.clone(), namespace);
        delete_each(&bindings, self.role_bindings, results).await;
        delete_each(&Api::all(c.clone()), self.cluster_roles, results).await;
        delete_each(&Api::namespaced(c.clone(), namespace), self.roles, results).await;
    }
}

/// Every deletion is tried (one refused does not keep the others), the first failure told.
fn first_failure(results: Vec<Result<(), Failure>>) -> Result<Outcome, ApplyError> {
    match results.into_iter().find_map(Result::err) {
        Some(failure) => refused(failure),
        None => Ok(Outcome::Done),
    }
}

fn when<T>(on: bool, objects: &[T]) -> &[T] {
    if on { objects } else { &[] }
}

async fn delete_each<K>(api: &Api<K>, objects: &[K], results: &mut Vec<Result<(), Failure>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    for object in objects {
        results.push(delete(api, &object.name_any()).await);
    }
}

/// Deletes `name`; already gone is fine.
async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Failure>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Failure {
            verb: Verb::Delete,
            object: format!("{} {name}", K::kind(&())),
            source,
        }),
    }
}

enum Step<'a> {
    Crd(&'a CustomResourceDefinition),
    ClusterRole(&'a ClusterRole),
    Role(&'a Role),
    ClusterRoleBinding(&'a ClusterRoleBinding),
    RoleBinding(&'a RoleBinding),
    Service(&'a Service),
    Webhook(&'a MutatingWebhookConfiguration),
}

impl Step<'_> {
    async fn apply(
        &self,
        client: &Client,
        namespace: &str,
        params: &PatchParams,
    ) -> Result<(), Failure> {
        let c = client.clone();
        match *self {
            Step::Crd(o) => patch(Api::all(c), o, params).await,
            Step::ClusterRole(o) => patch(Api::all(c), o, params).await,
            Step::ClusterRoleBinding(o) => patch(Api::all(c), o, params).await,
            Step::Webhook(o) => patch(Api::all(c), o, params).await,
            Step::Role(o) => patch(Api::namespaced(c, namespace), o, params).await,
            Step::RoleBinding(o) => patch(Api::namespaced(c, namespace), o, params).await,
            Step::Service(o) => patch(Api::namespaced(c, namespace), o, params).await,
        }
    }
}

async fn patch<K>(api: Api<K>, object: &K, params: &PatchParams) -> Result<(), Failure>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.name_any();
    api.patch(&name, params, &Patch::Apply(object))
        .await
        .map(drop)
        .map_err(|source| Failure {
            verb: Verb::Apply,
            object: format!("{} {name}", K::kind(&())),
            source,
        })
}
