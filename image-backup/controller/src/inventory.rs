//! The workload reconciler: for every image a ready workload runs, make sure one `ImageBackup`
//! exists; then, when asked to, switch the workload to its backups or back.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use crate::context::{Context, Error, RolloutMode, is_conflict};
use crate::crd::{ImageBackup, ImageBackupSpec, MANAGED_BY_LABEL, MANAGER, SecretRef};
use crate::image::ImageRef;
use crate::naming::object_name;
use crate::rollout::{self, Plan};
use crate::users::WorkloadKey;
use crate::workload::Workload;

/// How soon a workload waiting for its backups (rollout) is looked at again.
const WAITING_RECHECK: Duration = Duration::from_secs(5);

pub async fn reconcile<K: Workload>(workload: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = workload.name_any();
    let namespace = workload.namespace().ok_or_else(|| Error::NoNamespace {
        kind: K::KIND,
        name: name.clone(),
    })?;
    let key = WorkloadKey {
        kind: K::KIND,
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let scope = &ctx.settings.scope;
    if !scope.watches_namespace(&namespace) {
        ctx.users.forget(&key);
        return Ok(Action::await_change());
    }
    if ctx.settings.rollout == RolloutMode::RestoreOriginals && restore(&*workload, &ctx).await? {
        // The patch brings this workload back with its original images.
        return Ok(Action::await_change());
    }

    let pull_secrets: Vec<SecretRef> = workload
        .pod_spec()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|s| SecretRef {
            namespace: namespace.clone(),
            name: s.name.clone(),
        })
        .collect();
    let mut names = Vec::new();
    for image in scope.images_to_back_up(&*workload) {
        match image {
            Ok(image) => names.push(ensure_backup(&image, &pull_secrets, &ctx).await?),
            Err(invalid) => {
                ctx.event(
                    &workload.object_ref(&()),
                    true,
                    "InvalidImage",
                    invalid.to_string(),
                )
                .await;
            }
        }
    }
    let uses_backups = !names.is_empty();
    ctx.users.set(key, names);
    if uses_backups && ctx.settings.rollout == RolloutMode::Rollout {
        return roll_out(&*workload, &ctx).await;
    }
    Ok(Action::await_change())
}

pub fn error_policy<K: Workload>(_: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, kind = K::KIND, "workload reconcile failed");
    ctx.metrics.reconcile_error(error.kind());
    Action::requeue(Duration::from_secs(15))
}

/// Creates the `ImageBackup` for `image` unless the cache already has it; returns its name.
async fn ensure_backup(
    image: &ImageRef,
    pull_secrets: &[SecretRef],
    ctx: &Context,
) -> Result<String, Error> {
    let name = object_name(image);
    let namespace = &ctx.settings.namespace;
    if let Some(existing) = ctx.backups.get(&ObjectRef::new(&name).within(namespace)) {
        if existing.spec.image != image.to_string() {
            // 40 bits of hash make this practically impossible; say so loudly if it happens.
            tracing::error!(%name, existing = %existing.spec.image, wanted = %image, "ImageBackup name collision");
        }
        return Ok(name);
    }
    let mut backup = ImageBackup::new(
        &name,
        ImageBackupSpec {
            image: image.to_string(),
            pull_secrets: pull_secrets.to_vec(),
        },
    );
    backup.metadata.namespace = Some(namespace.clone());
    backup.metadata.labels = Some([(MANAGED_BY_LABEL.to_string(), MANAGER.to_string())].into());
    let api: Api<ImageBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(MANAGER.to_string()),
        ..Default::default()
    };
    match api.create(&params, &backup).await {
        Ok(_) => {
            tracing::info!(%name, %image, "ImageBackup created");
            Ok(name)
        }
        // Created meanwhile by another workload's reconcile (our cache had not seen it yet).
        Err(e) if is_conflict(&e) => Ok(name),
        Err(source) => Err(Error::Kube {
            context: format!("creating ImageBackup {namespace}/{name} for {image}"),
            source,
        }),
    }
}

async fn roll_out<K: Workload>(workload: &K, ctx: &Context) -> Result<Action, Error> {
    let Some(spec) = workload.pod_spec() else {
        return Ok(Action::await_change());
    };
    let namespace = &ctx.settings.namespace;
    let lookup_store = |name: &str| ctx.backups.get(&ObjectRef::new(name).within(namespace));
    // The store hands out Arcs; keep them alive for the borrow the planner takes.
    let held: Vec<_> = scope_images(workload, ctx)
        .into_iter()
        .filter_map(|n| lookup_store(&n))
        .collect();
    let lookup = |name: &str| {
        held.iter()
            .map(|b| b.as_ref())
            .find(|b| b.metadata.name.as_deref() == Some(name))
    };
    match rollout::plan_rollout(
        spec,
        workload.annotations(),
        &ctx.settings.scope,
        lookup,
        "/spec/template",
    ) {
        Plan::Nothing => Ok(Action::await_change()),
        // Woken when the backup changes (the controller watches ImageBackups), but that watch
        // and the cache read here are separate streams: the wake-up can arrive before the
        // cache has the new status. Looking again shortly closes that gap; it costs no request.
        Plan::Waiting { .. } => Ok(Action::requeue(WAITING_RECHECK)),
        Plan::Patch(ops) => {
            apply_patch(workload, ops, ctx, "RolledOut", "switched to backup images").await?;
            Ok(Action::await_change())
        }
    }
}

/// Puts back the original images if we switched them; true when it patched.
async fn restore<K: Workload>(workload: &K, ctx: &Context) -> Result<bool, Error> {
    let Some(ops) = workload
        .pod_spec()
        .and_then(|spec| rollout::plan_restore(spec, workload.annotations(), "/spec/template"))
    else {
        return Ok(false);
    };
    apply_patch(workload, ops, ctx, "Restored", "original images put back").await?;
    Ok(true)
}

fn scope_images<K: Workload>(workload: &K, ctx: &Context) -> Vec<String> {
    ctx.settings
        .scope
        .images_to_back_up(workload)
        .into_iter()
        .filter_map(Result::ok)
        .map(|i| object_name(&i))
        .collect()
}

/// Applies a JSON patch to one workload with our field manager, then says so in an event.
pub(crate) async fn apply_patch<K: Workload>(
    workload: &K,
    ops: Vec<serde_json::Value>,
    ctx: &Context,
    reason: &str,
    note: &str,
) -> Result<(), Error> {
    let name = workload.name_any();
    let namespace = workload.namespace().unwrap_or_default();
    let what = format!("patching images of {} {namespace}/{name}", K::KIND);
    let json_patch =
        serde_json::from_value(serde_json::Value::Array(ops)).map_err(|e| Error::BadPatch {
            context: what.clone(),
            reason: e.to_string(),
        })?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..Default::default()
    };
    api.patch(&name, &params, &Patch::<()>::Json(json_patch))
        .await
        .map_err(Error::kube(what))?;
    ctx.metrics.rollout();
    tracing::info!(kind = K::KIND, %namespace, %name, reason, "workload images patched");
    ctx.event(&workload.object_ref(&()), false, reason, note.to_string())
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ImageBackupStatus, Phase};
    use crate::fixtures::{BACKUP_REGISTRY, NAMESPACE, fixture, settings};
    use crate::rollout::ORIGINALS_ANNOTATION;
    use crate::workload::tests::{deployment, pod};
    use http::Method;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::LocalObjectReference;

    const BACKUPS: &str = "/apis/k8slab.io/v1alpha1/namespaces/image-backup/imagebackups";

    fn ready(images: &[&str]) -> Deployment {
        deployment("shop", "web", Some(2), Some(2), pod(&[], images))
    }

    fn done_backup(image: &str) -> ImageBackup {
        let image = ImageRef::parse(image).unwrap();
        let mut b = ImageBackup::new(
            &object_name(&image),
            ImageBackupSpec {
                image: image.to_string(),
                pull_secrets: vec![],
            },
        );
        b.metadata.namespace = Some(NAMESPACE.into());
        b.status = Some(ImageBackupStatus {
            phase: Phase::Done,
            backup_image: Some(format!("{BACKUP_REGISTRY}/{image}")),
            ..Default::default()
        });
        b
    }

    #[tokio::test]
    async fn creates_one_backup_per_image_with_pull_secrets() {
        let mut f = fixture(settings());
        let mut d = ready(&[
            "nginx:1.14.2",
            "marcosquesada/foo:1.0.0",
            "docker.io/marcosquesada/foo:1.0.0",
        ]);
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .image_pull_secrets = Some(vec![LocalObjectReference {
            name: "regcred".into(),
        }]);
        let task = tokio::spawn(reconcile(Arc::new(d), f.ctx.clone()));
        let mut created = Vec::new();
        for _ in 0..2 {
            let call = f.server.expect(Method::POST, BACKUPS).await;
            assert!(
                call.uri.contains("fieldManager=image-backup-controller"),
                "{}",
                call.uri
            );
            let b: ImageBackup = serde_json::from_value(call.body.clone()).unwrap();
            assert_eq!(
                b.spec.pull_secrets,
                [SecretRef {
                    namespace: "shop".into(),
                    name: "regcred".into()
                }]
            );
            assert_eq!(
                b.labels().get(MANAGED_BY_LABEL).map(String::as_str),
                Some(MANAGER)
            );
            created.push((b.name_any(), b.spec.image.clone()));
            call.respond(201, &serde_json::to_value(&b).unwrap());
        }
        assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
        assert_eq!(created[0].1, "docker.io/library/nginx:1.14.2");
        assert_eq!(created[1].1, "docker.io/marcosquesada/foo:1.0.0");
        assert!(created[0].0.starts_with("docker-io-library-nginx-1-14-2-"));
        assert_eq!(f.ctx.users.of(&created[1].0, "Deployment").len(), 1);
    }

    #[tokio::test]
    async fn existing_backups_need_no_request() {
        let mut f = fixture(settings());
        f.cache(&done_backup("nginx:1.14.2"));
        let action = reconcile(Arc::new(ready(&["nginx:1.14.2"])), f.ctx.clone())
            .await
            .unwrap();
        assert_eq!(action, Action::await_change());
    }

    #[tokio::test]
    async fn backup_created_meanwhile_is_fine() {
        let mut f = fixture(settings());
        let task = tokio::spawn(reconcile(Arc::new(ready(&["nginx"])), f.ctx.clone()));
        f.server
            .expect(Method::POST, BACKUPS)
            .await
            .fail(409, "AlreadyExists");
        assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    }

    #[tokio::test]
    async fn unready_excluded_and_backup_workloads_are_ignored() {
        let f = fixture(settings());
        let not_ready = deployment("shop", "web", Some(2), Some(1), pod(&[], &["nginx"]));
        let excluded = deployment(
            "kube-system",
            "dns",
            Some(1),
            Some(1),
            pod(&[], &["coredns"]),
        );
        let backup_only = ready(&[&format!("{BACKUP_REGISTRY}/docker.io/library/nginx:1")]);
        for d in [not_ready, excluded, backup_only] {
            // The mock answers nothing: any API call would hang and fail the timeout below.
            let action = tokio::time::timeout(
                Duration::from_secs(5),
                reconcile(Arc::new(d), f.ctx.clone()),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(action, Action::await_change());
        }
    }

    #[tokio::test]
    async fn invalid_image_is_reported_on_the_workload() {
        let f = fixture(settings());
        let task = tokio::spawn(reconcile(Arc::new(ready(&["Bad Image"])), f.ctx.clone()));
        task.await.unwrap().unwrap();
        assert_eq!(f.server.event_reasons(), ["InvalidImage"]);
        assert_eq!(f.server.events()[0]["regarding"]["kind"], "Deployment");
    }

    #[tokio::test]
    async fn rollout_patches_images_once_every_backup_is_done() {
        let mut s = settings();
        s.rollout = RolloutMode::Rollout;
        let mut f = fixture(s);
        let mut pending = done_backup("redis:7");
        pending.status = None;
        f.cache(&done_backup("nginx:1.14.2"));
        f.cache(&pending);
        let d = ready(&["nginx:1.14.2", "redis:7"]);
        // One backup still pending: no patch, look again soon.
        let action = tokio::time::timeout(
            Duration::from_secs(5),
            reconcile(Arc::new(d.clone()), f.ctx.clone()),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(action, Action::requeue(WAITING_RECHECK));

        f.cache(&done_backup("redis:7"));
        let task = tokio::spawn(reconcile(Arc::new(d.clone()), f.ctx.clone()));
        let call = f
            .server
            .expect(
                Method::PATCH,
                "/apis/apps/v1/namespaces/shop/deployments/web",
            )
            .await;
        let ops = call.body.as_array().unwrap();
        let replaced: Vec<_> = ops
            .iter()
            .filter(|op| op["op"] == "replace")
            .map(|op| op["value"].as_str().unwrap())
            .collect();
        assert_eq!(
            replaced,
            [
                "backup.local:5000/mirror/docker.io/library/nginx:1.14.2",
                "backup.local:5000/mirror/docker.io/library/redis:7"
            ]
        );
        assert_eq!(ops.iter().filter(|op| op["op"] == "test").count(), 2);
        assert!(ops.last().unwrap()["value"][ORIGINALS_ANNOTATION].is_string());
        call.ok(&serde_json::to_value(&d).unwrap());
        task.await.unwrap().unwrap();
        assert!(f.server.event_reasons().contains(&"RolledOut".to_string()));
    }

    #[tokio::test]
    async fn restore_originals_puts_images_back() {
        let mut s = settings();
        s.rollout = RolloutMode::RestoreOriginals;
        let mut f = fixture(s);
        let mut d = ready(&["backup.local:5000/mirror/docker.io/library/nginx:1.14.2"]);
        d.metadata.annotations = Some(
            [(
                ORIGINALS_ANNOTATION.to_string(),
                r#"{"containers/c0":"nginx:1.14.2"}"#.to_string(),
            )]
            .into(),
        );
        let task = tokio::spawn(reconcile(Arc::new(d.clone()), f.ctx.clone()));
        let call = f
            .server
            .expect(
                Method::PATCH,
                "/apis/apps/v1/namespaces/shop/deployments/web",
            )
            .await;
        assert_eq!(call.body[1]["value"], "nginx:1.14.2");
        assert_eq!(call.body[2]["op"], "remove");
        call.ok(&serde_json::to_value(&d).unwrap());
        // The patch's own watch event brings the restored workload back for the rest.
        assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
        assert!(f.server.event_reasons().contains(&"Restored".to_string()));
    }
}
