//! The CRD and RBAC the controller needs, applied with server-side apply.
//!
//! The manifests are the controller's own (`image-backup/controller/deploy/*.yaml`, embedded at
//! build time), rewritten for where Juju runs the controller:
//! - the subject of every binding is the application's service account (`<app>` in the model's
//!   namespace: Juju runs the workload container under the pod's service account), and the
//!   manifest's own ServiceAccount is not applied (Juju owns that one);
//! - names are made unique per deployment: `image-backup-controller*` becomes
//!   `<app>-controller*` for namespaced objects (Juju already names a Role `<app>`) and
//!   `<model>-<app>-controller*` for cluster-wide ones;
//! - the rollout binding (patching workloads) is applied only when `rollout` is on, and kept
//!   afterwards so that `restore-originals` can still switch workloads back; the binding that
//!   reads every namespace's secrets (for private source images) is not applied: it is more than
//!   most clusters should grant, and an operator can bind the applied ClusterRole
//!   `<model>-<app>-controller-pull-secrets` by hand.
//!
//! Applying needs cluster-wide rights: `juju trust <app> --scope=cluster`. A 403 is an
//! [`Outcome::Forbidden`] naming that command, not an error. The CRD is never deleted: deleting it
//! would delete every backup record with it.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The controller's manifests, as committed with it.
pub const CRD_YAML: &str = include_str!("../../controller/deploy/crd.yaml");
pub const RBAC_YAML: &str = include_str!("../../controller/deploy/rbac.yaml");

/// The server-side apply field manager: stable, so every hook updates the same fields.
pub const FIELD_MANAGER: &str = "image-backup-charm";

/// The name prefix the manifests use.
const MANIFEST_PREFIX: &str = "image-backup-controller";

/// Who the objects are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The model, which is also the Kubernetes namespace.
    pub model: String,
    /// The application, which is also the pod's service account.
    pub app: String,
}

/// The embedded manifests could not be read (a build problem, reported clearly all the same).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("controller manifest document {index}: {reason}")]
    Invalid { index: usize, reason: String },
    #[error("controller manifests hold no CustomResourceDefinition")]
    NoCrd,
}

/// The objects to apply, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub crd: CustomResourceDefinition,
    pub cluster_roles: Vec<ClusterRole>,
    pub roles: Vec<Role>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub role_bindings: Vec<RoleBinding>,
}

impl Desired {
    /// The objects for `owner`, with the rollout binding when `rollout` is on.
    pub fn new(owner: &Owner, rollout: bool) -> Result<Desired, ManifestError> {
        let mut crd = None;
        let mut desired = Desired {
            crd: CustomResourceDefinition::default(),
            cluster_roles: vec![],
            roles: vec![],
            cluster_role_bindings: vec![],
            role_bindings: vec![],
        };
        let docs = documents(CRD_YAML)?
            .into_iter()
            .chain(documents(RBAC_YAML)?);
        for (index, doc) in docs.enumerate() {
            let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            match kind {
                "CustomResourceDefinition" => crd = Some(typed(index, doc)?),
                "ServiceAccount" => {}
                "ClusterRole" => {
                    let mut role: ClusterRole = typed(index, doc)?;
                    rename(&mut role.metadata.name, &cluster_prefix(owner));
                    label(owner, &mut role.metadata.labels);
                    desired.cluster_roles.push(role);
                }
                "Role" => {
                    let mut role: Role = typed(index, doc)?;
                    rename(&mut role.metadata.name, &namespaced_prefix(owner));
                    role.metadata.namespace = Some(owner.model.clone());
                    label(owner, &mut role.metadata.labels);
                    desired.roles.push(role);
                }
                "ClusterRoleBinding" => {
                    let mut binding: ClusterRoleBinding = typed(index, doc)?;
                    let name = binding.metadata.name.clone().unwrap_or_default();
                    let wanted = if name.ends_with("-rollout") {
                        rollout
                    } else {
                        !name.ends_with("-pull-secrets")
                    };
                    if !wanted {
                        continue;
                    }
                    rename(&mut binding.metadata.name, &cluster_prefix(owner));
                    rename_str(&mut binding.role_ref.name, &cluster_prefix(owner));
                    subjects(owner, binding.subjects.get_or_insert_default());
                    label(owner, &mut binding.metadata.labels);
                    desired.cluster_role_bindings.push(binding);
                }
                "RoleBinding" => {
                    let mut binding: RoleBinding = typed(index, doc)?;
                    rename(&mut binding.metadata.name, &namespaced_prefix(owner));
                    binding.metadata.namespace = Some(owner.model.clone());
                    let prefix = if binding.role_ref.kind == "ClusterRole" {
                        cluster_prefix(owner)
                    } else {
                        namespaced_prefix(owner)
                    };
                    rename_str(&mut binding.role_ref.name, &prefix);
                    subjects(owner, binding.subjects.get_or_insert_default());
                    label(owner, &mut binding.metadata.labels);
                    desired.role_bindings.push(binding);
                }
                other => {
                    return Err(ManifestError::Invalid {
                        index,
                        reason: format!("unexpected kind {other:?}"),
                    });
                }
            }
        }
        desired.crd = crd.ok_or(ManifestError::NoCrd)?;
        Ok(desired)
    }

    /// A digest of everything that would be applied: the charm re-applies when it changes
    /// (a new charm revision, another rollout setting) rather than on every hook.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            serde_json::to_vec(&self.crd),
            serde_json::to_vec(&self.cluster_roles),
            serde_json::to_vec(&self.roles),
            serde_json::to_vec(&self.cluster_role_bindings),
            serde_json::to_vec(&self.role_bindings),
        ] {
            hash.update(part.unwrap_or_default());
        }
        hex::encode(hash.finalize())
    }
}

fn cluster_prefix(owner: &Owner) -> String {
    format!("{}-{}-controller", owner.model, owner.app)
}

fn namespaced_prefix(owner: &Owner) -> String {
    format!("{}-controller", owner.app)
}

fn rename(name: &mut Option<String>, prefix: &str) {
    if let Some(n) = name {
        rename_str(n, prefix);
    }
}

fn rename_str(name: &mut String, prefix: &str) {
    if let Some(rest) = name.strip_prefix(MANIFEST_PREFIX) {
        *name = format!("{prefix}{rest}");
    }
}

fn subjects(owner: &Owner, subjects: &mut [Subject]) {
    for subject in subjects.iter_mut().filter(|s| s.kind == "ServiceAccount") {
        subject.name = owner.app.clone();
        subject.namespace = Some(owner.model.clone());
    }
}

/// Labels that say which Juju application applied an object.
fn label(owner: &Owner, labels: &mut Option<BTreeMap<String, String>>) {
    let labels = labels.get_or_insert_default();
    labels.insert("app.kubernetes.io/managed-by".into(), "juju".into());
    labels.insert("app.juju.is/created-by".into(), owner.app.clone());
    labels.insert("model.juju.is/name".into(), owner.model.clone());
}

fn documents(text: &str) -> Result<Vec<serde_yaml::Value>, ManifestError> {
    let mut docs = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| ManifestError::Invalid {
            index,
            reason: e.to_string(),
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn typed<T: DeserializeOwned>(index: usize, doc: serde_yaml::Value) -> Result<T, ManifestError> {
    serde_yaml::from_value(doc).map_err(|e| ManifestError::Invalid {
        index,
        reason: e.to_string(),
    })
}

/// What applying or removing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every object is applied (or removed).
    Done,
    /// The API server refused (403): the application is not trusted cluster-wide.
    Forbidden { object: String, message: String },
}

/// A refusal is an outcome the charm reports; any other failure is an error.
fn refused(object: String, source: kube::Error) -> Result<Outcome, ApplyError> {
    match &source {
        kube::Error::Api(status) if status.code == 403 => Ok(Outcome::Forbidden {
            object,
            message: status.message.clone(),
        }),
        _ => Err(ApplyError { object, source }),
    }
}

/// The API server failed for another reason (unreachable, 5xx, rejected object).
#[derive(Debug, thiserror::Error)]
#[error("applying {object}: {source}")]
pub struct ApplyError {
    pub object: String,
    #[source]
    pub source: kube::Error,
}

/// Applies `desired` in dependency order: the CRD, roles, then bindings.
pub async fn apply(
    client: &Client,
    owner: &Owner,
    desired: &Desired,
) -> Result<Outcome, ApplyError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut steps: Vec<Step<'_>> = vec![Step::Crd(&desired.crd)];
    steps.extend(desired.cluster_roles.iter().map(Step::ClusterRole));
    steps.extend(desired.roles.iter().map(Step::Role));
    steps.extend(
        desired
            .cluster_role_bindings
            .iter()
            .map(Step::ClusterRoleBinding),
    );
    steps.extend(desired.role_bindings.iter().map(Step::RoleBinding));
    for step in steps {
        let result = match step {
            Step::Crd(o) => patch(Api::all(client.clone()), o, &params).await,
            Step::ClusterRole(o) => patch(Api::all(client.clone()), o, &params).await,
            Step::ClusterRoleBinding(o) => patch(Api::all(client.clone()), o, &params).await,
            Step::Role(o) => patch(Api::namespaced(client.clone(), &owner.model), o, &params).await,
            Step::RoleBinding(o) => {
                patch(Api::namespaced(client.clone(), &owner.model), o, &params).await
            }
        };
        if let Err((object, source)) = result {
            return refused(object, source);
        }
    }
    Ok(Outcome::Done)
}

/// Deletes the roles and bindings [`apply`] made (rollout binding included, whatever the
/// setting), bindings first; not the CRD, whose deletion would delete every backup record.
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
    let cluster: Api<ClusterRoleBinding> = Api::all(client.clone());
    let mut results = Vec::new();
    for b in &all.cluster_role_bindings {
        results.push(delete(&cluster, &b.name_any()).await);
    }
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &owner.model);
    for b in &all.role_bindings {
        results.push(delete(&bindings, &b.name_any()).await);
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for r in &all.cluster_roles {
        results.push(delete(&roles, &r.name_any()).await);
    }
    let ns_roles: Api<Role> = Api::namespaced(client.clone(), &owner.model);
    for r in &all.roles {
        results.push(delete(&ns_roles, &r.name_any()).await);
    }
    for result in results {
        if let Err((object, source)) = result {
            return refused(object, source);
        }
    }
    Ok(Outcome::Done)
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), (String, kube::Error)>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err((format!("{} {name}", K::kind(&())), e)),
    }
}

enum Step<'a> {
    Crd(&'a CustomResourceDefinition),
    ClusterRole(&'a ClusterRole),
    Role(&'a Role),
    ClusterRoleBinding(&'a ClusterRoleBinding),
    RoleBinding(&'a RoleBinding),
}

async fn patch<K>(
    api: Api<K>,
    object: &K,
    params: &PatchParams,
) -> Result<(), (String, kube::Error)>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.name_any();
    api.patch(&name, params, &Patch::Apply(object))
        .await
        .map(drop)
        .map_err(|e| (format!("{} {name}", K::kind(&())), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            model: "prod".into(),
            app: "image-backup".into(),
        }
    }

    #[test]
    fn objects_are_rewritten_for_the_application() {
        let d = Desired::new(&owner(), false).unwrap();
        assert_eq!(d.crd.name_any(), "imagebackups.k8slab.io");
        let names = |v: Vec<String>| v;
        assert_eq!(
            names(d.cluster_roles.iter().map(|r| r.name_any()).collect()),
            [
                "prod-image-backup-controller",
                "prod-image-backup-controller-rollout",
                "prod-image-backup-controller-pull-secrets"
            ]
        );
        assert_eq!(
            names(
                d.cluster_role_bindings
                    .iter()
                    .map(|r| r.name_any())
                    .collect()
            ),
            ["prod-image-backup-controller"]
        );
        let binding = &d.cluster_role_bindings[0];
        assert_eq!(binding.role_ref.name, "prod-image-backup-controller");
        let subject = &binding.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.name.as_str(), subject.namespace.as_deref()),
            ("image-backup", Some("prod"))
        );
        assert_eq!(d.roles.len(), 1);
        assert_eq!(d.roles[0].name_any(), "image-backup-controller");
        assert_eq!(d.roles[0].metadata.namespace.as_deref(), Some("prod"));
        let rb = &d.role_bindings[0];
        assert_eq!(
            (rb.name_any().as_str(), rb.role_ref.name.as_str()),
            ("image-backup-controller", "image-backup-controller")
        );
        assert_eq!(rb.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(
            d.roles[0].metadata.labels.as_ref().unwrap()["app.juju.is/created-by"],
            "image-backup"
        );
    }

    #[test]
    fn rollout_adds_its_binding_and_changes_the_fingerprint() {
        let off = Desired::new(&owner(), false).unwrap();
        let on = Desired::new(&owner(), true).unwrap();
        let names: Vec<String> = on
            .cluster_role_bindings
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(
            names,
            [
                "prod-image-backup-controller",
                "prod-image-backup-controller-rollout"
            ]
        );
        assert_ne!(off.fingerprint(), on.fingerprint());
        assert_eq!(
            off.fingerprint(),
            Desired::new(&owner(), false).unwrap().fingerprint()
        );
    }
}
