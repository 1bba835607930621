//! Switching a workload to its backup images, and back.
//!
//! Only the `image` fields change, with a JSON patch whose `test` operations make it apply
//! to exactly the template we looked at (someone else's concurrent edit turns it into a
//! 409/422 and we look again), never a whole-object update. The original images are kept in the
//! annotation [`ORIGINALS_ANNOTATION`] (`{"containers/<name>": "<image>", ...}`), which is
//! what `--restore-originals` puts back.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::crd::ImageBackup;
use crate::image::ImageRef;
use crate::naming::object_name;
use crate::workload::{ContainerImage, Scope, container_images};

pub const ORIGINALS_ANNOTATION: &str = "k8slab.io/original-images";

/// The rollout patch for a workload, or why there is none yet.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Every image already is a backup (or there is nothing to switch).
    Nothing,
    /// Some image has no finished backup yet.
    Waiting { image: String },
    /// JSON patch operations to apply.
    Patch(Vec<Value>),
}

/// Plans the switch of `template`'s images to their backups. `lookup` finds the backup object
/// by name (the controller's cache).
pub fn plan_rollout<'a>(
    pod_spec: &k8s_openapi::api::core::v1::PodSpec,
    annotations: &BTreeMap<String, String>,
    scope: &Scope,
    lookup: impl Fn(&str) -> Option<&'a ImageBackup>,
    template_path: &str,
) -> Plan {
    let mut originals = read_originals(annotations);
    let mut ops = Vec::new();
    for c in container_images(pod_spec) {
        let Ok(image) = ImageRef::parse(&c.image) else {
            continue;
        };
        if scope.is_backup(&image) {
            continue;
        }
        let backup = lookup(&object_name(&image)).and_then(|b| {
            let status = b.status.as_ref()?;
            (status.phase == crate::crd::Phase::Done).then_some(status.backup_image.as_deref()?)
        });
        let Some(backup) = backup else {
            return Plan::Waiting { image: c.image };
        };
        ops.extend(replace_image(template_path, &c, backup));
        originals.insert(original_key(&c), c.image.clone());
    }
    if ops.is_empty() {
        return Plan::Nothing;
    }
    ops.extend(set_originals(annotations, &originals));
    Plan::Patch(ops)
}

/// Plans putting back the originals recorded in the annotation; None when there are none.
pub fn plan_restore(
    pod_spec: &k8s_openapi::api::core::v1::PodSpec,
    annotations: &BTreeMap<String, String>,
    template_path: &str,
) -> Option<Vec<Value>> {
    annotations.get(ORIGINALS_ANNOTATION)?;
    let originals = read_originals(annotations);
    let mut ops = Vec::new();
    for c in container_images(pod_spec) {
        if let Some(original) = originals.get(&original_key(&c))
            && *original != c.image
        {
            ops.extend(replace_image(template_path, &c, original));
        }
    }
    ops.push(json!({"op": "remove", "path": format!("/metadata/annotations/{}", escape(ORIGINALS_ANNOTATION))}));
    Some(ops)
}

fn original_key(c: &ContainerImage) -> String {
    format!("{}/{}", c.list.field(), c.container)
}

fn read_originals(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .get(ORIGINALS_ANNOTATION)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

fn replace_image(template_path: &str, c: &ContainerImage, image: &str) -> [Value; 2] {
    let path = format!("{template_path}/spec/{}/{}/image", c.list.field(), c.index);
    [
        json!({"op": "test", "path": path, "value": c.image}),
        json!({"op": "replace", "path": path, "value": image}),
    ]
}

fn set_originals(
    annotations: &BTreeMap<String, String>,
    originals: &BTreeMap<String, String>,
) -> Vec<Value> {
    let value = serde_json::to_string(originals).unwrap_or_default();
    if annotations.is_empty() {
        // The object may have no annotations map at all; "add" of the whole map works either way.
        vec![
            json!({"op": "add", "path": "/metadata/annotations", "value": {ORIGINALS_ANNOTATION: value}}),
        ]
    } else {
        vec![
            json!({"op": "add", "path": format!("/metadata/annotations/{}", escape(ORIGINALS_ANNOTATION)), "value": value}),
        ]
    }
}

/// JSON pointer escaping (RFC 6901).
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ImageBackupSpec, ImageBackupStatus, Phase};
    use crate::workload::tests::pod;

    fn scope() -> Scope {
        Scope {
            excluded_namespaces: vec![],
            naming: image_backup_copier::BackupNaming::preserving("backup.local", Some("mirror"))
                .unwrap(),
        }
    }

    fn done(image: &str) -> ImageBackup {
        let parsed = ImageRef::parse(image).unwrap();
        let mut b = ImageBackup::new(
            &object_name(&parsed),
            ImageBackupSpec {
                image: parsed.to_string(),
                pull_secrets: vec![],
            },
        );
        b.status = Some(ImageBackupStatus {
            phase: Phase::Done,
            backup_image: Some(format!("backup.local/mirror/{parsed}")),
            ..Default::default()
        });
        b
    }

    #[test]
    fn waits_until_every_image_is_done() {
        let backups = [done("nginx:1.14.2")];
        let lookup = |name: &str| {
            backups
                .iter()
                .find(|b| b.metadata.name.as_deref() == Some(name))
        };
        let plan = plan_rollout(
            &pod(&["busybox"], &["nginx:1.14.2"]),
            &BTreeMap::new(),
            &scope(),
            lookup,
            "/spec/template",
        );
        assert_eq!(
            plan,
            Plan::Waiting {
                image: "busybox".into()
            }
        );
    }

    #[test]
    fn patches_only_images_and_records_originals() {
        let backups = [done("nginx:1.14.2"), done("busybox")];
        let lookup = |name: &str| {
            backups
                .iter()
                .find(|b| b.metadata.name.as_deref() == Some(name))
        };
        let spec = pod(&["busybox"], &["nginx:1.14.2"]);
        let Plan::Patch(ops) =
            plan_rollout(&spec, &BTreeMap::new(), &scope(), lookup, "/spec/template")
        else {
            panic!("expected a patch");
        };
        assert_eq!(
            ops,
            [
                json!({"op": "test", "path": "/spec/template/spec/initContainers/0/image", "value": "busybox"}),
                json!({"op": "replace", "path": "/spec/template/spec/initContainers/0/image", "value": "backup.local/mirror/docker.io/library/busybox:latest"}),
                json!({"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.14.2"}),
                json!({"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "backup.local/mirror/docker.io/library/nginx:1.14.2"}),
                json!({"op": "add", "path": "/metadata/annotations", "value": {ORIGINALS_ANNOTATION: r#"{"containers/c0":"nginx:1.14.2","initContainers/c0":"busybox"}"#}}),
            ]
        );
    }

    #[test]
    fn rolled_out_workload_needs_nothing_and_restores() {
        let spec = pod(&[], &["backup.local/mirror/docker.io/library/nginx:1.14.2"]);
        let annotations: BTreeMap<_, _> = [
            ("other/thing".to_string(), "x".to_string()),
            (
                ORIGINALS_ANNOTATION.to_string(),
                r#"{"containers/c0":"nginx:1.14.2"}"#.to_string(),
            ),
        ]
        .into();
        assert_eq!(
            plan_rollout(&spec, &annotations, &scope(), |_| None, "/spec/template"),
            Plan::Nothing
        );
        let ops = plan_restore(&spec, &annotations, "/spec/template").unwrap();
        assert_eq!(
            ops,
            [
                json!({"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "backup.local/mirror/docker.io/library/nginx:1.14.2"}),
                json!({"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.14.2"}),
                json!({"op": "remove", "path": "/metadata/annotations/k8slab.io~1original-images"}),
            ]
        );
        assert_eq!(
            plan_restore(&spec, &BTreeMap::new(), "/spec/template"),
            None
        );
    }
}
