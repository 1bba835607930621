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
//!   `<model>-<app>-controller-pull-secrets` by hand;
//! - with pod admission on ([`crate::admission`]), the webhook's Service and
//!   MutatingWebhookConfiguration and the manifests' `*-webhook` roles (the webhook
//!   configuration and the certificate Secret they name become this application's) are applied
//!   after the rest, the configuration last so that the API server calls nothing that is not
//!   there yet; with admission off they are deleted (deleting what is absent is fine), the
//!   configuration first.
//!
//! Applying needs cluster-wide rights: `juju trust <app> --scope=cluster`. A 403 is an
//! [`Outcome::Forbidden`] naming that command, not an error. The CRD is never deleted: deleting it
//! would delete every backup record with it.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::admission::WebhookNames;
use crate::config::AdmissionMode;

mod apply;
pub use apply::{ApplyError, Outcome, Verb, apply, remove};

/// The controller's manifests, as committed with it.
pub const CRD_YAML: &str = include_str!("../../controller/deploy/crd.yaml");
pub const RBAC_YAML: &str = include_str!("../../controller/deploy/rbac.yaml");

/// The server-side apply field manager: stable, so every hook updates the same fields.
pub const FIELD_MANAGER: &str = "image-backup-charm";

/// The name prefix the manifests use.
const MANIFEST_PREFIX: &str = "image-backup-controller";

/// The name suffix of the manifests' roles and bindings that only pod admission needs.
const ADMISSION_SUFFIX: &str = "-webhook";

/// What the manifests' admission roles call the webhook's objects (the controller's flag
/// defaults); rewritten to this application's [`WebhookNames`].
const MANIFEST_WEBHOOK_CONFIGURATION: &str = "image-backup";
const MANIFEST_WEBHOOK_SECRET: &str = "image-backup-webhook-tls";
const MANIFEST_WEBHOOK_SERVICE: &str = "image-backup-webhook";

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
    /// Applied when admission is on, deleted when it is off.
    pub admission: Admission,
}

/// The pod admission webhook's objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// Whether they are wanted (the `admission` option is not `off`).
    pub on: bool,
    pub names: WebhookNames,
    pub cluster_roles: Vec<ClusterRole>,
    pub roles: Vec<Role>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub role_bindings: Vec<RoleBinding>,
    pub service: Service,
    pub configuration: MutatingWebhookConfiguration,
}

impl Desired {
    /// The objects for `owner`, with the rollout binding when `rollout` is on, admission off.
    pub fn new(owner: &Owner, rollout: bool) -> Result<Desired, ManifestError> {
        Desired::with_admission(owner, rollout, AdmissionMode::Off)
    }

    /// The objects for `owner`, with the rollout binding when `rollout` is on and the
    /// admission webhook's objects wanted when `admission` is not off.
    pub fn with_admission(
        owner: &Owner,
        rollout: bool,
        admission: AdmissionMode,
    ) -> Result<Desired, ManifestError> {
        let mut crd = None;
        let names = WebhookNames::new(owner);
        let mut desired = Desired {
            crd: CustomResourceDefinition::default(),
            cluster_roles: vec![],
            roles: vec![],
            cluster_role_bindings: vec![],
            role_bindings: vec![],
            admission: Admission {
                on: admission.is_on(),
                service: names.service(owner),
                configuration: names.configuration(owner),
                names,
                cluster_roles: vec![],
                roles: vec![],
                cluster_role_bindings: vec![],
                role_bindings: vec![],
            },
        };
        let docs = documents(CRD_YAML)?
            .into_iter()
            .chain(documents(RBAC_YAML)?);
        for (index, doc) in docs.enumerate() {
            let kind = doc
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_string();
            let kind = kind.as_str();
            let for_admission = doc
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.ends_with(ADMISSION_SUFFIX));
            if for_admission {
                desired.admission.add(owner, index, kind, doc)?;
                continue;
            }
            match kind {
                "CustomResourceDefinition" => crd = Some(typed(index, doc)?),
                "ServiceAccount" => {}
                "ClusterRole" => desired.cluster_roles.push(cluster_role(owner, index, doc)?),
                "Role" => desired.roles.push(role(owner, index, doc)?),
                "ClusterRoleBinding" => {
                    let binding = cluster_role_binding(owner, index, doc)?;
                    let name = binding.name_any();
                    let wanted = if name.ends_with("-rollout") {
                        rollout
                    } else {
                        !name.ends_with("-pull-secrets")
                    };
                    if wanted {
                        desired.cluster_role_bindings.push(binding);
                    }
                }
                "RoleBinding" => desired.role_bindings.push(role_binding(owner, index, doc)?),
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
    /// (a new charm revision, another rollout or admission setting) rather than on every hook.
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
        let a = &self.admission;
        if a.on {
            for part in [
                serde_json::to_vec(&a.cluster_roles),
                serde_json::to_vec(&a.roles),
                serde_json::to_vec(&a.cluster_role_bindings),
                serde_json::to_vec(&a.role_bindings),
                serde_json::to_vec(&a.service),
                serde_json::to_vec(&a.configuration),
            ] {
                hash.update(part.unwrap_or_default());
            }
        } else {
            hash.update(b"admission off");
        }
        hex::encode(hash.finalize())
    }
}

impl Admission {
    /// Takes in one of the manifests' admission roles or bindings, rewritten like the others,
    /// and the webhook objects its rules name made this application's.
    fn add(
        &mut self,
        owner: &Owner,
        index: usize,
        kind: &str,
        doc: serde_yaml::Value,
    ) -> Result<(), ManifestError> {
        match kind {
            "ClusterRole" => {
                let mut role = cluster_role(owner, index, doc)?;
                self.own(role.rules.get_or_insert_default());
                self.cluster_roles.push(role);
            }
            "Role" => {
                let mut role = role(owner, index, doc)?;
                self.own(role.rules.get_or_insert_default());
                self.roles.push(role);
            }
            "ClusterRoleBinding" => self
                .cluster_role_bindings
                .push(cluster_role_binding(owner, index, doc)?),
            "RoleBinding" => self.role_bindings.push(role_binding(owner, index, doc)?),
            other => {
                return Err(ManifestError::Invalid {
                    index,
                    reason: format!("unexpected kind {other:?} among the admission objects"),
                });
            }
        }
        Ok(())
    }

    /// Rules that name the webhook's objects by the controller's default names name this
    /// application's instead: least privilege stays per object.
    fn own(&self, rules: &mut [PolicyRule]) {
        let names = &self.names;
        for rule in rules {
            for name in rule.resource_names.iter_mut().flatten() {
                let ours = match name.as_str() {
                    MANIFEST_WEBHOOK_CONFIGURATION => &names.configuration,
                    MANIFEST_WEBHOOK_SECRET => &names.secret,
                    MANIFEST_WEBHOOK_SERVICE => &names.service,
                    _ => continue,
                };
                *name = ours.clone();
            }
        }
    }
}

// The manifests' objects, rewritten for `owner` (see the module docs).

fn cluster_role(
    owner: &Owner,
    index: usize,
    doc: serde_yaml::Value,
) -> Result<ClusterRole, ManifestError> {
    let mut role: ClusterRole = typed(index, doc)?;
    rename(&mut role.metadata.name, &cluster_prefix(owner));
    label(owner, &mut role.metadata.labels);
    Ok(role)
}

fn role(owner: &Owner, index: usize, doc: serde_yaml::Value) -> Result<Role, ManifestError> {
    let mut role: Role = typed(index, doc)?;
    rename(&mut role.metadata.name, &namespaced_prefix(owner));
    role.metadata.namespace = Some(owner.model.clone());
    label(owner, &mut role.metadata.labels);
    Ok(role)
}

fn cluster_role_binding(
    owner: &Owner,
    index: usize,
    doc: serde_yaml::Value,
) -> Result<ClusterRoleBinding, ManifestError> {
    let mut binding: ClusterRoleBinding = typed(index, doc)?;
    rename(&mut binding.metadata.name, &cluster_prefix(owner));
    rename_str(&mut binding.role_ref.name, &cluster_prefix(owner));
    subjects(owner, binding.subjects.get_or_insert_default());
    label(owner, &mut binding.metadata.labels);
    Ok(binding)
}

fn role_binding(
    owner: &Owner,
    index: usize,
    doc: serde_yaml::Value,
) -> Result<RoleBinding, ManifestError> {
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
    Ok(binding)
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
pub(crate) fn label(owner: &Owner, labels: &mut Option<BTreeMap<String, String>>) {
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

#[cfg(test)]
impl Owner {
    /// Application `image-backup` in model `prod`.
    pub(crate) fn example() -> Owner {
        Owner {
            model: "prod".into(),
            app: "image-backup".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::example()
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
    fn admission_objects_are_wanted_only_when_on_and_one_set_serves_both_modes() {
        let off = Desired::new(&owner(), false).unwrap();
        let failover = Desired::with_admission(&owner(), false, AdmissionMode::Failover).unwrap();
        let always = Desired::with_admission(&owner(), false, AdmissionMode::Always).unwrap();
        assert!(!off.admission.on && failover.admission.on);
        // Off still knows them by name, to delete them.
        assert_eq!(off.admission.service, failover.admission.service);
        assert_eq!(
            off.admission.configuration.name_any(),
            "image-backup-prod-image-backup"
        );
        assert_ne!(off.fingerprint(), failover.fingerprint());
        assert_eq!(failover.fingerprint(), always.fingerprint());
        // The rest is the same either way.
        assert_eq!(off.cluster_roles, failover.cluster_roles);
        assert_eq!(off.role_bindings, failover.role_bindings);
    }

    #[test]
    fn admission_rules_name_this_applications_webhook_objects() {
        let owner = Owner {
            model: "prod".into(),
            app: "backups".into(),
        };
        let d = Desired::with_admission(&owner, false, AdmissionMode::Failover).unwrap();
        let mut rules = vec![PolicyRule {
            resource_names: Some(
                [
                    "image-backup",
                    "image-backup-webhook-tls",
                    "image-backup-registry",
                ]
                .map(String::from)
                .to_vec(),
            ),
            ..PolicyRule::default()
        }];
        d.admission.own(&mut rules);
        assert_eq!(
            rules[0].resource_names.as_deref().unwrap(),
            [
                "image-backup-prod-backups",
                "backups-webhook-tls",
                "image-backup-registry"
            ]
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
