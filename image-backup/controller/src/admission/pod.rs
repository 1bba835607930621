//! A pod as the webhook sees it: its images (containers, init and ephemeral containers), the
//! backup each one has, and the JSON patch that carries out the decisions.
//!
//! The patch only ever replaces `image` fields (each guarded by a `test` of the value we
//! decided on), records the originals in [`ORIGINAL_IMAGES`] and adds the backup registry's
//! pull secret; nothing else of the pod changes.

use std::collections::BTreeMap;

use image_backup_copier::{Digest, Reference};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use serde_json::{Value, json};

use super::decision::{Backup, Decision, Keep};
use crate::crd::{ImageBackup, Phase, SecretRef};
use crate::image::ImageRef;
use crate::rollout::escape;
use crate::workload::Scope;

/// Pod annotation with the images the pod asked for, `{"<list>/<container>": "<image>"}`, for
/// every image the webhook rewrote.
pub const ORIGINAL_IMAGES: &str = "image-backup.k8slab.io/original-images";

/// Which list of the pod spec a container is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PodList {
    InitContainers,
    Containers,
    EphemeralContainers,
}

impl PodList {
    pub fn field(self) -> &'static str {
        match self {
            PodList::InitContainers => "initContainers",
            PodList::Containers => "containers",
            PodList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// One container of a pod and the image it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodImage {
    pub list: PodList,
    pub index: usize,
    pub container: String,
    pub image: String,
}

impl PodImage {
    /// `<list>/<container>`: the key in [`ORIGINAL_IMAGES`].
    pub fn key(&self) -> String {
        format!("{}/{}", self.list.field(), self.container)
    }
}

/// Every image of a pod: init containers, containers, then ephemeral containers.
pub fn pod_images(spec: &PodSpec) -> Vec<PodImage> {
    let entry = |list, index, container: &str, image: &Option<String>| {
        Some(PodImage {
            list,
            index,
            container: container.to_string(),
            image: image.clone()?,
        })
    };
    let init = spec.init_containers.iter().flatten().enumerate();
    let main = spec.containers.iter().enumerate();
    let ephemeral = spec.ephemeral_containers.iter().flatten().enumerate();
    init.filter_map(|(i, c)| entry(PodList::InitContainers, i, &c.name, &c.image))
        .chain(main.filter_map(|(i, c)| entry(PodList::Containers, i, &c.name, &c.image)))
        .chain(
            ephemeral
                .filter_map(|(i, c)| entry(PodList::EphemeralContainers, i, &c.name, &c.image)),
        )
        .collect()
}

/// What the controller knows about one image reference of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Not a valid reference: left to the API server's validation.
    Invalid,
    /// Already in the backup registry.
    AlreadyBackup,
    /// A source image, the state of its backup and the pull secrets the backup recorded.
    Source {
        image: ImageRef,
        backup: Backup,
        pull_secrets: Vec<SecretRef>,
    },
}

impl Resolved {
    /// The decision when no backup can be used: `Some` for images that need no further look.
    pub fn settled(&self) -> Option<Decision> {
        match self {
            Resolved::Invalid => Some(Decision::Keep(Keep::Invalid)),
            Resolved::AlreadyBackup => Some(Decision::Keep(Keep::AlreadyBackup)),
            Resolved::Source { .. } => None,
        }
    }
}

/// Resolves `image` the way the controller names backups: the normalised reference names the
/// `ImageBackup` ([`crate::naming::object_name`]) that `lookup` finds in the cache.
pub fn resolve(
    image: &str,
    scope: &Scope,
    lookup: impl FnOnce(&ImageRef) -> Option<std::sync::Arc<ImageBackup>>,
) -> Resolved {
    let Ok(image) = ImageRef::parse(image) else {
        return Resolved::Invalid;
    };
    if scope.is_backup(&image) {
        return Resolved::AlreadyBackup;
    }
    let found = lookup(&image);
    let backup = backup_state(found.as_deref(), &image);
    let pull_secrets = match (&backup, found) {
        (Backup::None, _) | (_, None) => Vec::new(),
        (_, Some(found)) => found.spec.pull_secrets.clone(),
    };
    Resolved::Source {
        image,
        backup,
        pull_secrets,
    }
}

/// The usable state of `backup` for `image`. A Done backup is usable only with the backup
/// reference and digest it recorded, and only if it is the backup of this very image (the
/// object name is a hash; a collision must not swap images).
pub fn backup_state(backup: Option<&ImageBackup>, image: &ImageRef) -> Backup {
    let Some(backup) = backup else {
        return Backup::None;
    };
    if backup.spec.image != image.to_string() {
        return Backup::None;
    }
    let Some(status) = &backup.status else {
        return Backup::NotDone(Phase::Pending);
    };
    if status.phase != Phase::Done {
        return Backup::NotDone(status.phase);
    }
    match (&status.backup_image, &status.backup_digest) {
        (Some(reference), Some(digest)) => match pinned(reference, digest) {
            Some(pinned) => Backup::Done { pinned },
            None => Backup::NotDone(Phase::Done),
        },
        _ => Backup::NotDone(Phase::Done),
    }
}

/// `<registry>/<repository>@<digest>` of a backup reference (tag dropped): pulls exactly the
/// content that was backed up, whatever happens to the tag later.
pub fn pinned(backup_image: &str, digest: &str) -> Option<String> {
    let reference = Reference::parse(backup_image).ok()?;
    let digest = Digest::parse(digest).ok()?;
    Some(format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    ))
}

/// The JSON patch that applies `decided` to `pod`, or an empty list when nothing is
/// rewritten. `pull_secret` is added to `imagePullSecrets` if the pod lacks it.
pub fn patch(pod: &Pod, decided: &[(PodImage, Decision)], pull_secret: Option<&str>) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut originals = BTreeMap::new();
    for (c, decision) in decided {
        let Decision::Rewrite { to, .. } = decision else {
            continue;
        };
        let path = format!("/spec/{}/{}/image", c.list.field(), c.index);
        ops.push(json!({"op": "test", "path": path, "value": c.image}));
        ops.push(json!({"op": "replace", "path": path, "value": to}));
        originals.insert(c.key(), c.image.clone());
    }
    if ops.is_empty() {
        return ops;
    }
    let recorded = serde_json::to_string(&originals).unwrap_or_default();
    match &pod.metadata.annotations {
        Some(annotations) if !annotations.is_empty() => ops.push(json!({
            "op": "add",
            "path": format!("/metadata/annotations/{}", escape(ORIGINAL_IMAGES)),
            "value": recorded
        })),
        // Absent (or empty) map: adding the whole map works either way.
        _ => ops.push(json!({
            "op": "add",
            "path": "/metadata/annotations",
            "value": {ORIGINAL_IMAGES: recorded}
        })),
    }
    if let Some(secret) = pull_secret {
        let spec = pod.spec.as_ref();
        let existing = spec.and_then(|s| s.image_pull_secrets.as_ref());
        match existing {
            Some(list) if list.iter().any(|s| s.name == secret) => {}
            Some(list) if !list.is_empty() => ops.push(json!({
                "op": "add", "path": "/spec/imagePullSecrets/-", "value": {"name": secret}
            })),
            _ => ops.push(json!({
                "op": "add", "path": "/spec/imagePullSecrets", "value": [{"name": secret}]
            })),
        }
    }
    ops
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::admission::decision::Rewrite;
    use crate::crd::{ImageBackupSpec, ImageBackupStatus};
    use crate::naming::object_name;

    pub const DIGEST: &str =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    pub fn scope() -> Scope {
        Scope {
            excluded_namespaces: vec![],
            naming: image_backup_copier::BackupNaming::preserving(
                "backup.local:5000",
                Some("mirror"),
            )
            .unwrap(),
        }
    }

    /// An `ImageBackup` of `image` in `phase`, with the backup reference the controller writes.
    pub fn backup(image: &str, phase: Phase) -> ImageBackup {
        let image = ImageRef::parse(image).unwrap();
        let mut b = ImageBackup::new(
            &object_name(&image),
            ImageBackupSpec {
                image: image.to_string(),
                pull_secrets: vec![],
            },
        );
        b.status = Some(ImageBackupStatus {
            phase,
            // What the controller records: the copier's backup reference.
            backup_image: Some(
                scope()
                    .naming
                    .backup_reference(image.reference())
                    .unwrap()
                    .to_string(),
            ),
            backup_digest: Some(DIGEST.into()),
            source_digest: Some(DIGEST.into()),
            ..Default::default()
        });
        b
    }

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn images_of_every_container_list() {
        let p = pod(json!({
            "metadata": {"generateName": "web-"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis"}],
                "ephemeralContainers": [{"name": "debug", "image": "alpine"}]
            }
        }));
        let images: Vec<_> = pod_images(p.spec.as_ref().unwrap())
            .into_iter()
            .map(|c| (c.key(), c.index, c.image))
            .collect();
        assert_eq!(
            images,
            [
                ("initContainers/init".to_string(), 0, "busybox".to_string()),
                ("containers/a".into(), 0, "nginx:1".into()),
                ("containers/b".into(), 1, "redis".into()),
                ("ephemeralContainers/debug".into(), 0, "alpine".into()),
            ]
        );
    }

    #[test]
    fn resolution_follows_the_controllers_naming() {
        let done = std::sync::Arc::new(backup("nginx:1.25", Phase::Done));
        let lookup = |image: &ImageRef| {
            (object_name(image) == done.metadata.name.clone().unwrap()).then(|| done.clone())
        };
        let pinned = format!("backup.local:5000/mirror/docker.io/library/nginx@{DIGEST}");
        // Any spelling of the image finds its backup.
        for spelling in [
            "nginx:1.25",
            "docker.io/library/nginx:1.25",
            "index.docker.io/library/nginx:1.25",
        ] {
            assert_eq!(
                resolve(spelling, &scope(), lookup),
                Resolved::Source {
                    image: ImageRef::parse("nginx:1.25").unwrap(),
                    backup: Backup::Done {
                        pinned: pinned.clone()
                    },
                    pull_secrets: vec![],
                },
                "{spelling}"
            );
        }
        assert_eq!(resolve("Not An Image", &scope(), lookup), Resolved::Invalid);
        assert_eq!(
            resolve(
                "backup.local:5000/mirror/docker.io/library/nginx:1.25",
                &scope(),
                |_| { panic!("a backup is never looked up") }
            ),
            Resolved::AlreadyBackup
        );
        assert!(matches!(
            resolve("redis", &scope(), |_| None),
            Resolved::Source {
                backup: Backup::None,
                ..
            }
        ));
    }

    #[test]
    fn only_a_done_backup_with_a_digest_of_this_image_is_usable() {
        let image = ImageRef::parse("nginx:1.25").unwrap();
        for phase in [Phase::Pending, Phase::Running, Phase::Failed] {
            assert_eq!(
                backup_state(Some(&backup("nginx:1.25", phase)), &image),
                Backup::NotDone(phase)
            );
        }
        let mut no_digest = backup("nginx:1.25", Phase::Done);
        no_digest.status.as_mut().unwrap().backup_digest = None;
        assert_eq!(
            backup_state(Some(&no_digest), &image),
            Backup::NotDone(Phase::Done)
        );
        let mut no_status = backup("nginx:1.25", Phase::Done);
        no_status.status = None;
        assert_eq!(
            backup_state(Some(&no_status), &image),
            Backup::NotDone(Phase::Pending)
        );
        // An object of another image under the same name (a hash collision) is not used.
        let other = backup("redis:7", Phase::Done);
        assert_eq!(backup_state(Some(&other), &image), Backup::None);
        assert_eq!(backup_state(None, &image), Backup::None);
    }

    #[test]
    fn digest_pinned_originals_get_their_own_backup_pinned_by_digest() {
        let original = format!("nginx@{DIGEST}");
        let b = backup(&original, Phase::Done);
        // The backup reference has a tag made of the digest; the rewrite drops it.
        let recorded = b.status.as_ref().unwrap().backup_image.clone().unwrap();
        assert!(recorded.contains(":sha256-"), "{recorded}");
        assert_eq!(
            backup_state(Some(&b), &ImageRef::parse(&original).unwrap()),
            Backup::Done {
                pinned: format!("backup.local:5000/mirror/docker.io/library/nginx@{DIGEST}")
            }
        );
        assert_eq!(pinned("backup.local/x:1", "md5:zz"), None);
    }

    fn rewrite(to: &str) -> Decision {
        Decision::Rewrite {
            to: to.into(),
            reason: Rewrite::Always,
        }
    }

    #[test]
    fn patch_rewrites_images_records_originals_and_adds_the_pull_secret() {
        let p = pod(json!({
            "metadata": {"generateName": "web-", "namespace": "apps"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis"}],
                "ephemeralContainers": [{"name": "debug", "image": "alpine"}]
            }
        }));
        let images = pod_images(p.spec.as_ref().unwrap());
        let decided: Vec<_> = images
            .iter()
            .cloned()
            .zip([
                rewrite("b/busybox@sha256:1"),
                Decision::Keep(Keep::Available),
                rewrite("b/redis@sha256:2"),
                rewrite("b/alpine@sha256:3"),
            ])
            .collect();
        let ops = patch(&p, &decided, Some("backup-pull"));
        assert_eq!(
            ops,
            [
                json!({"op": "test", "path": "/spec/initContainers/0/image", "value": "busybox"}),
                json!({"op": "replace", "path": "/spec/initContainers/0/image", "value": "b/busybox@sha256:1"}),
                json!({"op": "test", "path": "/spec/containers/1/image", "value": "redis"}),
                json!({"op": "replace", "path": "/spec/containers/1/image", "value": "b/redis@sha256:2"}),
                json!({"op": "test", "path": "/spec/ephemeralContainers/0/image", "value": "alpine"}),
                json!({"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "b/alpine@sha256:3"}),
                json!({"op": "add", "path": "/metadata/annotations", "value": {ORIGINAL_IMAGES:
                    r#"{"containers/b":"redis","ephemeralContainers/debug":"alpine","initContainers/init":"busybox"}"#}}),
                json!({"op": "add", "path": "/spec/imagePullSecrets", "value": [{"name": "backup-pull"}]}),
            ]
        );
        // Applied like the API server does, the patch gives the pod we mean.
        let mut applied = serde_json::to_value(&p).unwrap();
        json_patch::patch(
            &mut applied,
            &serde_json::from_value::<json_patch::Patch>(Value::Array(ops)).unwrap(),
        )
        .unwrap();
        assert_eq!(applied["spec"]["containers"][0]["image"], "nginx:1");
        assert_eq!(
            applied["spec"]["containers"][1]["image"],
            "b/redis@sha256:2"
        );
    }

    #[test]
    fn patch_keeps_existing_annotations_and_pull_secrets() {
        let p = pod(json!({
            "metadata": {"name": "p", "annotations": {"a": "b"}},
            "spec": {
                "containers": [{"name": "a", "image": "nginx"}],
                "imagePullSecrets": [{"name": "mine"}]
            }
        }));
        let decided = vec![(
            pod_images(p.spec.as_ref().unwrap())[0].clone(),
            rewrite("b/n@sha256:1"),
        )];
        let ops = patch(&p, &decided, Some("backup-pull"));
        assert_eq!(
            ops[2..],
            [
                json!({"op": "add", "path": "/metadata/annotations/image-backup.k8slab.io~1original-images", "value": r#"{"containers/a":"nginx"}"#}),
                json!({"op": "add", "path": "/spec/imagePullSecrets/-", "value": {"name": "backup-pull"}}),
            ]
        );
        // Already there: not added twice. No secret configured: none added.
        assert_eq!(patch(&p, &decided, Some("mine")).len(), 3);
        assert_eq!(patch(&p, &decided, None).len(), 3);
        // Nothing rewritten: no patch at all.
        let kept = vec![(decided[0].0.clone(), Decision::Keep(Keep::NoBackup))];
        assert!(patch(&p, &kept, Some("backup-pull")).is_empty());
    }
}
