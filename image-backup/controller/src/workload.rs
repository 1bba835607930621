//! The workloads we watch (Deployments, DaemonSets, StatefulSets) seen through one trait, and
//! the pure predicates that decide whether one of them needs backups.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodSpec;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use image_backup_copier::BackupNaming;

use crate::image::ImageRef;

/// An apps/v1 workload with a pod template.
pub trait Workload:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Kind as written in `kind:` and in our annotations.
    const KIND: &'static str;

    fn pod_spec(&self) -> Option<&PodSpec>;

    /// Ready as the issue defines it: wanted > 0 and every wanted pod ready.
    fn is_ready(&self) -> bool;
}

/// Deployments and StatefulSets: replicas wanted (default 1) > 0 and all of them ready.
fn replicas_ready(wanted: Option<i32>, ready: Option<i32>) -> bool {
    let wanted = wanted.unwrap_or(1);
    wanted > 0 && ready.unwrap_or(0) == wanted
}

impl Workload for Deployment {
    const KIND: &'static str = "Deployment";

    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }

    fn is_ready(&self) -> bool {
        replicas_ready(
            self.spec.as_ref().and_then(|s| s.replicas),
            self.status.as_ref().and_then(|s| s.ready_replicas),
        )
    }
}

impl Workload for StatefulSet {
    const KIND: &'static str = "StatefulSet";

    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }

    fn is_ready(&self) -> bool {
        replicas_ready(
            self.spec.as_ref().and_then(|s| s.replicas),
            self.status.as_ref().and_then(|s| s.ready_replicas),
        )
    }
}

impl Workload for DaemonSet {
    const KIND: &'static str = "DaemonSet";

    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }

    fn is_ready(&self) -> bool {
        let Some(status) = self.status.as_ref() else {
            return false;
        };
        status.desired_number_scheduled > 0
            && status.number_ready == status.desired_number_scheduled
    }
}

/// Which list of the pod spec a container is in; the index is its position there, which is
/// what a JSON patch addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContainerList {
    InitContainers,
    Containers,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::InitContainers => "initContainers",
            ContainerList::Containers => "containers",
        }
    }
}

/// One container of a pod template and the image it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    pub list: ContainerList,
    pub index: usize,
    pub container: String,
    pub image: String,
}

/// Every image of a pod template: init containers then containers. Ephemeral containers are
/// debugging aids added to pods, never part of a template, so they are not backed up.
pub fn container_images(spec: &PodSpec) -> Vec<ContainerImage> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| (ContainerList::InitContainers, i, c));
    let main = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (ContainerList::Containers, i, c));
    init.chain(main)
        .filter_map(|(list, index, c)| {
            Some(ContainerImage {
                list,
                index,
                container: c.name.clone(),
                image: c.image.clone()?,
            })
        })
        .collect()
}

/// What the controller watches: namespaces it leaves alone and where the backups live.
#[derive(Clone, Debug)]
pub struct Scope {
    pub excluded_namespaces: Vec<String>,
    pub naming: BackupNaming,
}

impl Scope {
    pub fn watches_namespace(&self, namespace: &str) -> bool {
        !self.excluded_namespaces.iter().any(|n| n == namespace)
    }

    /// True when `image` already is a backup (it lives in the backup registry).
    pub fn is_backup(&self, image: &ImageRef) -> bool {
        self.naming.is_backup(image.reference())
    }

    /// The images of `workload` that need a backup, if the workload is one we act on now: in a
    /// watched namespace and ready. Images that do not parse are returned as errors, so the
    /// caller can report them without giving up on the others.
    pub fn images_to_back_up<K: Workload>(
        &self,
        workload: &K,
    ) -> Vec<Result<ImageRef, crate::image::InvalidImage>> {
        let namespace = workload.namespace().unwrap_or_default();
        if !self.watches_namespace(&namespace) || !workload.is_ready() {
            return Vec::new();
        }
        let Some(spec) = workload.pod_spec() else {
            return Vec::new();
        };
        let mut images: Vec<Result<ImageRef, _>> = Vec::new();
        for c in container_images(spec) {
            let parsed = ImageRef::parse(&c.image);
            if let Ok(image) = &parsed
                && (self.is_backup(image) || images.iter().any(|i| i.as_ref().ok() == Some(image)))
            {
                continue;
            }
            images.push(parsed);
        }
        images
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DaemonSetSpec, DaemonSetStatus, DeploymentSpec, DeploymentStatus, StatefulSetSpec,
        StatefulSetStatus,
    };
    use k8s_openapi::api::core::v1::{Container, EphemeralContainer, PodTemplateSpec};

    pub fn pod(init: &[&str], main: &[&str]) -> PodSpec {
        let container = |(i, image): (usize, &&str)| Container {
            name: format!("c{i}"),
            image: Some(image.to_string()),
            ..Default::default()
        };
        PodSpec {
            init_containers: (!init.is_empty())
                .then(|| init.iter().enumerate().map(container).collect()),
            containers: main.iter().enumerate().map(container).collect(),
            ..Default::default()
        }
    }

    pub fn deployment(
        namespace: &str,
        name: &str,
        replicas: Option<i32>,
        ready: Option<i32>,
        spec: PodSpec,
    ) -> Deployment {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas,
                template: PodTemplateSpec {
                    spec: Some(spec),
                    ..Default::default()
                },
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                ready_replicas: ready,
                ..Default::default()
            }),
            ..Default::default()
        };
        d.metadata.name = Some(name.into());
        d.metadata.namespace = Some(namespace.into());
        d
    }

    fn scope() -> Scope {
        Scope {
            excluded_namespaces: vec!["kube-system".into(), "image-backup".into()],
            naming: BackupNaming::preserving("backup.local:5000", Some("mirror")).unwrap(),
        }
    }

    #[test]
    fn deployment_readiness() {
        let spec = || pod(&[], &["nginx"]);
        let cases = [
            (Some(2), Some(2), true),
            (Some(2), Some(1), false),
            (None, Some(1), true), // replicas defaults to 1
            (None, None, false),
            (Some(0), Some(0), false), // scaled to zero: nothing runs
            (Some(0), None, false),
        ];
        for (replicas, ready, want) in cases {
            assert_eq!(
                deployment("ns", "d", replicas, ready, spec()).is_ready(),
                want,
                "{replicas:?}/{ready:?}"
            );
        }
    }

    #[test]
    fn statefulset_readiness() {
        for (replicas, ready, want) in [
            (Some(3), Some(3), true),
            (Some(3), Some(2), false),
            (Some(0), Some(0), false),
        ] {
            let s = StatefulSet {
                spec: Some(StatefulSetSpec {
                    replicas,
                    ..Default::default()
                }),
                status: Some(StatefulSetStatus {
                    ready_replicas: ready,
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(s.is_ready(), want);
        }
    }

    #[test]
    fn daemonset_readiness() {
        for (desired, ready, want) in [(3, 3, true), (3, 2, false), (0, 0, false)] {
            let d = DaemonSet {
                spec: Some(DaemonSetSpec::default()),
                status: Some(DaemonSetStatus {
                    desired_number_scheduled: desired,
                    number_ready: ready,
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(d.is_ready(), want, "{desired}/{ready}");
        }
        assert!(!DaemonSet::default().is_ready());
    }

    #[test]
    fn images_include_init_containers_but_not_ephemeral_ones() {
        let mut spec = pod(&["busybox:1"], &["nginx:1.14.2", "marcosquesada/foo:1.0.0"]);
        spec.ephemeral_containers = Some(vec![EphemeralContainer {
            name: "debug".into(),
            image: Some("debugger".into()),
            ..Default::default()
        }]);
        let images: Vec<_> = container_images(&spec)
            .into_iter()
            .map(|c| (c.list, c.index, c.image))
            .collect();
        assert_eq!(
            images,
            [
                (ContainerList::InitContainers, 0, "busybox:1".to_string()),
                (ContainerList::Containers, 0, "nginx:1.14.2".to_string()),
                (
                    ContainerList::Containers,
                    1,
                    "marcosquesada/foo:1.0.0".to_string()
                ),
            ]
        );
    }

    #[test]
    fn images_to_back_up_table() {
        let images = |d: &Deployment| -> Vec<String> {
            scope()
                .images_to_back_up(d)
                .into_iter()
                .map(|r| r.map(|i| i.to_string()).unwrap_or_else(|e| e.to_string()))
                .collect()
        };
        let ready = |ns: &str, spec| deployment(ns, "d", Some(1), Some(1), spec);
        let bad = ImageRef::parse("Bad:x").unwrap_err().to_string();
        let cases: Vec<(&str, Deployment, Vec<&str>)> = vec![
            (
                "original's case",
                ready("default", pod(&[], &["nginx:1.14.2"])),
                vec!["docker.io/library/nginx:1.14.2"],
            ),
            (
                "two spellings of one image count once",
                ready(
                    "default",
                    pod(
                        &["marcosquesada/foo:1.0.0"],
                        &["docker.io/marcosquesada/foo:1.0.0"],
                    ),
                ),
                vec!["docker.io/marcosquesada/foo:1.0.0"],
            ),
            (
                "excluded namespace",
                ready("kube-system", pod(&[], &["nginx"])),
                vec![],
            ),
            (
                "controller's own namespace",
                ready("image-backup", pod(&[], &["nginx"])),
                vec![],
            ),
            (
                "not ready",
                deployment("default", "d", Some(2), Some(1), pod(&[], &["nginx"])),
                vec![],
            ),
            (
                "already a backup",
                ready(
                    "default",
                    pod(
                        &[],
                        &[
                            "backup.local:5000/mirror/docker.io/library/nginx:1",
                            "redis",
                        ],
                    ),
                ),
                vec!["docker.io/library/redis:latest"],
            ),
            (
                "bad reference reported, others kept",
                ready("default", pod(&[], &["Bad:x", "nginx"])),
                vec![bad.as_str(), "docker.io/library/nginx:latest"],
            ),
        ];
        for (what, d, want) in cases {
            assert_eq!(images(&d), want, "{what}");
        }
    }
}
