//! The agent's Kubernetes objects, built by pure functions from a small typed input.
//!
//! Names and content are those of the original Python charm's `cluster-register.yaml`, so
//! that `juju refresh` onto this charm adopts the objects it created, plus the ownership
//! labels of [`Owner`]. Fields the original left to API-server defaults stay unset: with
//! server-side apply, a field we send is a field we own and must keep sending.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Namespace, ObjectFieldSelector, PodSpec,
    PodTemplateSpec, ResourceRequirements, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ObjectMeta;

use crate::cluster_id::ClusterId;
use crate::image::Image;
use crate::owner::Owner;

/// Namespace holding the agent.
pub const NAMESPACE: &str = "cloudcasa-io";
/// Service account the agent runs as.
pub const SERVICE_ACCOUNT: &str = "cloudcasa-io";
/// Binding of [`SERVICE_ACCOUNT`] to [`CLUSTER_ROLE`]: the agent backs up the whole cluster.
pub const CLUSTER_ROLE_BINDING: &str = "cloudcasa-io";
/// The role bound: the agent needs to read and restore every kind of object.
pub const CLUSTER_ROLE: &str = "cluster-admin";
/// The agent's deployment.
pub const DEPLOYMENT: &str = "cloudcasa-kubeagent-manager";
/// The agent's container.
pub const AGENT_CONTAINER: &str = "kubeagentmanager";

/// `component` label of the namespace, service account and binding.
const HELPER_COMPONENT: &str = "kubeagent-backup-helper";
const SCRATCH_VOLUME: &str = "scratch";

/// Everything the agent's deployment depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// The cluster's identifier in CloudCasa (`clusterid`).
    pub cluster_id: ClusterId,
    /// The `cloudcasa-image` resource.
    pub image: Image,
    /// The Juju application applying the objects.
    pub owner: Owner,
}

/// The objects the charm keeps applied, in the order they must be applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    owner: Owner,
    namespace: Namespace,
    service_account: ServiceAccount,
    cluster_role_binding: ClusterRoleBinding,
    deployment: Option<Deployment>,
}

impl Desired {
    /// Everything, agent included.
    pub fn with_agent(spec: &AgentSpec) -> Self {
        Self {
            deployment: Some(deployment(spec)),
            ..Self::without_agent(&spec.owner)
        }
    }

    /// Everything but the agent's deployment: what `clusterid` being unusable leaves. An
    /// agent without an identifier cannot register, so there is nothing to run yet.
    pub fn without_agent(owner: &Owner) -> Self {
        Self {
            owner: owner.clone(),
            namespace: namespace(owner),
            service_account: service_account(owner),
            cluster_role_binding: cluster_role_binding(owner),
            deployment: None,
        }
    }

    /// The application the objects are labelled with.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// [`NAMESPACE`].
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// [`SERVICE_ACCOUNT`], inside the namespace.
    pub fn service_account(&self) -> &ServiceAccount {
        &self.service_account
    }

    /// [`CLUSTER_ROLE_BINDING`].
    pub fn cluster_role_binding(&self) -> &ClusterRoleBinding {
        &self.cluster_role_binding
    }

    /// [`DEPLOYMENT`], if the agent is wanted.
    pub fn deployment(&self) -> Option<&Deployment> {
        self.deployment.as_ref()
    }
}

/// Namespace [`NAMESPACE`].
pub fn namespace(owner: &Owner) -> Namespace {
    Namespace {
        metadata: meta(NAMESPACE, None, HELPER_COMPONENT, owner),
        ..Default::default()
    }
}

/// Service account [`SERVICE_ACCOUNT`] in [`NAMESPACE`].
pub fn service_account(owner: &Owner) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(SERVICE_ACCOUNT, Some(NAMESPACE), HELPER_COMPONENT, owner),
        ..Default::default()
    }
}

/// Cluster role binding [`CLUSTER_ROLE_BINDING`]: [`CLUSTER_ROLE`] to the service account.
pub fn cluster_role_binding(owner: &Owner) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(CLUSTER_ROLE_BINDING, None, HELPER_COMPONENT, owner),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: CLUSTER_ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: SERVICE_ACCOUNT.into(),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        }]),
    }
}

/// Deployment [`DEPLOYMENT`] in [`NAMESPACE`]: one replica of the agent.
pub fn deployment(spec: &AgentSpec) -> Deployment {
    let pod_labels = BTreeMap::from([("app".to_owned(), DEPLOYMENT.to_owned())]);
    let image = spec.image.as_str();
    let env = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    };
    let container = Container {
        name: AGENT_CONTAINER.into(),
        image: Some(image.into()),
        // Tags like `latest` move; the original pulled on every start and so do we.
        image_pull_policy: Some("Always".into()),
        args: Some(
            [
                "/usr/local/bin/kubeagentmanager",
                "--server_addr",
                "agent.cloudcasa.io:443",
                "--tls",
                "true",
            ]
            .map(String::from)
            .to_vec(),
        ),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("250m", "64Mi")),
            limits: Some(quantities("500m", "128Mi")),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: SCRATCH_VOLUME.into(),
            mount_path: "/scratch".into(),
            ..Default::default()
        }]),
        // The agent reads these by name, but keep the original's order so a refresh from the
        // Python charm is not a diff.
        env: Some(vec![
            EnvVar {
                name: "MY_POD_NAME".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            env("AMDS_CLUSTER_ID", spec.cluster_id.as_str()),
            env("KUBEMOVER_IMAGE", image),
            env("DEPLOYMENT_PLATFORM", "charmed"),
        ]),
        ..Default::default()
    };
    Deployment {
        metadata: meta(DEPLOYMENT, Some(NAMESPACE), DEPLOYMENT, &spec.owner),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(pod_labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    restart_policy: Some("Always".into()),
                    service_account_name: Some(SERVICE_ACCOUNT.into()),
                    volumes: Some(vec![Volume {
                        name: SCRATCH_VOLUME.into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn meta(name: &str, namespace: Option<&str>, component: &str, owner: &Owner) -> ObjectMeta {
    let mut labels = owner.labels();
    labels.insert("component".into(), component.into());
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        labels: Some(labels),
        ..Default::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.into())),
        ("memory".to_owned(), Quantity(memory.into())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentSpec {
        AgentSpec {
            cluster_id: ClusterId::parse("abc123").unwrap(),
            image: Image::parse("docker.io/catalogicsoftware/amds-kagent:latest").unwrap(),
            owner: Owner::new("backups", "cloudcasa").unwrap(),
        }
    }

    #[test]
    fn without_agent_has_no_deployment() {
        let desired = Desired::without_agent(&spec().owner);
        assert!(desired.deployment().is_none());
        let full = Desired::with_agent(&spec());
        assert_eq!(full.deployment(), Some(&deployment(&spec())));
        assert_eq!(
            desired,
            Desired {
                deployment: None,
                ..full
            }
        );
        assert_eq!(desired.owner(), &spec().owner);
    }

    #[test]
    fn env_carries_cluster_id_and_image_in_order() {
        let deployment = deployment(&spec());
        let env = deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        let pairs: Vec<(&str, Option<&str>)> = env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("MY_POD_NAME", None),
                ("AMDS_CLUSTER_ID", Some("abc123")),
                (
                    "KUBEMOVER_IMAGE",
                    Some("docker.io/catalogicsoftware/amds-kagent:latest")
                ),
                ("DEPLOYMENT_PLATFORM", Some("charmed")),
            ]
        );
    }

    #[test]
    fn selector_matches_pod_labels() {
        let spec = deployment(&spec()).spec.unwrap();
        assert_eq!(
            spec.selector.match_labels,
            spec.template.metadata.unwrap().labels
        );
    }
}
