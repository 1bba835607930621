//! The `ImageBackup` reconciler: carries out the steps [`crate::lifecycle`] decides: claims a
//! copy, runs it while writing progress, records the outcome, and re-checks finished backups.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use crate::context::{Context, Error, is_conflict};
use crate::copier::{CopyError, CopyErrorKind, CopyRequest};
use crate::crd::{ImageBackup, ImageBackupStatus, MANAGER, Phase};
use crate::image::ImageRef;
use crate::lifecycle::{self, Attempt, Next};
use image_backup_copier::registry::api_host;

/// How soon to look again after losing a race for an object.
const AFTER_CONFLICT: Duration = Duration::from_secs(1);
/// At most this many workloads get an event about one backup.
const EVENT_FANOUT: usize = 20;

pub async fn reconcile(backup: Arc<ImageBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = backup.namespace().ok_or_else(|| Error::NoNamespace {
        kind: "ImageBackup",
        name: backup.name_any(),
    })?;
    let api: Api<ImageBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let settings = &ctx.settings;
    match lifecycle::next(
        &backup,
        &settings.identity,
        Timestamp::now(),
        &settings.policy,
    ) {
        Next::Idle => Ok(Action::await_change()),
        Next::Wait(wait) => Ok(Action::requeue(wait)),
        Next::Recheck => recheck(&api, &backup, &ctx).await,
        Next::Copy { attempt, why } => copy(&api, &backup, attempt, why, &ctx).await,
    }
}

/// Error policy for the runtime: count the error, retry the object later.
pub fn error_policy(_: Arc<ImageBackup>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "ImageBackup reconcile failed");
    ctx.metrics.reconcile_error(error.kind());
    Action::requeue(Duration::from_secs(15))
}

async fn copy(
    api: &Api<ImageBackup>,
    backup: &ImageBackup,
    attempt: Attempt,
    why: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let name = backup.name_any();
    let settings = &ctx.settings;
    let now = Timestamp::now();
    let prepared = ImageRef::parse(&backup.spec.image)
        .map_err(|e| CopyError::new(CopyErrorKind::BadInput, e.to_string()))
        .and_then(|image| {
            let destination = settings.scope.naming.backup_reference(image.reference());
            let destination =
                destination.map_err(|e| CopyError::new(CopyErrorKind::BadInput, e.to_string()))?;
            Ok((destination, image))
        });
    let (destination, image) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            // Record the refusal as a failed attempt: nothing to copy until the spec changes.
            let claimed = lifecycle::claim(backup, &settings.identity, "", attempt, now);
            let status = lifecycle::failed(claimed, &error, now, &settings.policy);
            write_status(api, &name, &status, None).await?;
            ctx.event(&backup.object_ref(&()), true, "BackupFailed", error.message)
                .await;
            return Ok(Action::await_change());
        }
    };

    // A registry on hold (it just failed) would only hold a slot for another timeout.
    let registries = [
        api_host(image.reference().registry()).to_string(),
        api_host(destination.registry()).to_string(),
    ];
    if let Some((registry, wait)) = ctx.registries.wait(&[&registries[0], &registries[1]]) {
        tracing::debug!(backup = %name, %registry, ?wait, "registry on hold; copy not started");
        return Ok(Action::requeue(wait));
    }

    // Claim: conditional on the version we decided from, so a stale cache or a second
    // controller loses with 409 instead of starting a duplicate copy.
    let claimed = lifecycle::claim(
        backup,
        &settings.identity,
        &destination.to_string(),
        attempt,
        now,
    );
    match write_status(api, &name, &claimed, backup.resource_version()).await {
        Ok(()) => {}
        Err(Error::Kube { source, .. }) if is_conflict(&source) => {
            return Ok(Action::requeue(AFTER_CONFLICT));
        }
        Err(e) => return Err(e),
    }
    tracing::info!(backup = %name, image = %image, %destination, why, attempt = claimed.attempts, "copy started");
    let note = format!(
        "copying {image} to {destination} (attempt {}, {why})",
        claimed.attempts
    );
    ctx.event(
        &backup.object_ref(&()),
        false,
        "BackupStarted",
        note.clone(),
    )
    .await;
    post_on_users(ctx, &name, false, "BackupStarted", &note).await;

    let credentials = match ctx.credentials(&backup.spec.pull_secrets).await {
        Ok(credentials) => credentials,
        Err(error) => {
            let failure = CopyError::new(CopyErrorKind::Auth, error.to_string());
            return finish(api, backup, claimed, Err(failure), Instant::now(), ctx).await;
        }
    };
    let request = CopyRequest {
        source: image,
        destination,
        credentials,
    };
    let started = Instant::now();
    let result = run_with_heartbeat(api, &name, request, ctx).await;
    match &result {
        Ok(_) => registries.iter().for_each(|r| ctx.registries.succeeded(r)),
        Err(CopyError {
            unavailable: Some(registry),
            ..
        }) => {
            let wait = ctx.registries.failed(registry);
            tracing::warn!(%registry, ?wait, "registry unavailable; copies through it wait");
        }
        Err(_) => {}
    }
    finish(api, backup, claimed, result, started, ctx).await
}

/// Runs the copy, writing bytes copied and a heartbeat every `progress_interval`.
async fn run_with_heartbeat(
    api: &Api<ImageBackup>,
    name: &str,
    request: CopyRequest,
    ctx: &Context,
) -> Result<crate::copier::CopyOutcome, CopyError> {
    let (progress_tx, progress_rx) = watch::channel(0u64);
    let copy = ctx.copier.copy(request, progress_tx);
    tokio::pin!(copy);
    let mut ticker = tokio::time::interval(ctx.settings.progress_interval);
    ticker.tick().await;
    let mut reported = 0;
    loop {
        tokio::select! {
            result = &mut copy => return result,
            _ = ticker.tick() => {
                let bytes = *progress_rx.borrow();
                if bytes != reported {
                    ctx.copy_progress.beat();
                    reported = bytes;
                }
                let patch = json!({"status": {"bytesCopied": bytes, "heartbeatAt": Time(Timestamp::now())}});
                if let Err(error) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    tracing::warn!(%error, backup = name, "could not record progress");
                }
            }
        }
    }
}

async fn finish(
    api: &Api<ImageBackup>,
    backup: &ImageBackup,
    claimed: ImageBackupStatus,
    result: Result<crate::copier::CopyOutcome, CopyError>,
    started: Instant,
    ctx: &Context,
) -> Result<Action, Error> {
    let name = backup.name_any();
    let now = Timestamp::now();
    let policy = &ctx.settings.policy;
    let elapsed = started.elapsed().as_secs_f64();
    let (status, action) = match &result {
        Ok(outcome) => {
            ctx.metrics
                .copy_finished(true, outcome.bytes_copied, elapsed);
            (
                lifecycle::succeeded(claimed, outcome, now),
                Action::requeue(policy.recheck_interval),
            )
        }
        Err(error) => {
            ctx.metrics.copy_finished(false, 0, elapsed);
            let status = lifecycle::failed(claimed, error, now, policy);
            let action = match status.phase {
                Phase::Failed => Action::await_change(),
                _ => Action::requeue(policy.backoff(status.attempts)),
            };
            (status, action)
        }
    };
    // Unconditional: we hold the claim. If this write fails the status stays Running with us
    // as holder, and the retry resumes the copy (which finds the blobs already there).
    write_status(api, &name, &status, None).await?;
    let (warning, reason, note) = match (&result, status.phase) {
        (Ok(outcome), _) => (
            false,
            "BackupDone",
            format!(
                "backed up {} as {} ({} bytes copied)",
                backup.spec.image,
                status.backup_image.as_deref().unwrap_or_default(),
                outcome.bytes_copied
            ),
        ),
        (Err(error), Phase::Failed) => (
            true,
            "BackupFailed",
            format!("giving up on {}: {}", backup.spec.image, error.message),
        ),
        (Err(error), _) => (
            true,
            "BackupRetrying",
            format!(
                "attempt {} for {} failed: {}",
                status.attempts, backup.spec.image, error.message
            ),
        ),
    };
    tracing::info!(backup = %name, phase = status.phase.as_str(), %note, "copy finished");
    ctx.event(&backup.object_ref(&()), warning, reason, note.clone())
        .await;
    post_on_users(ctx, &name, warning, reason, &note).await;
    Ok(action)
}

async fn recheck(
    api: &Api<ImageBackup>,
    backup: &ImageBackup,
    ctx: &Context,
) -> Result<Action, Error> {
    let name = backup.name_any();
    let status = backup.status.clone().unwrap_or_default();
    let (Some(backup_image), Some(digest)) = (
        status.backup_image.as_deref(),
        status.backup_digest.as_deref(),
    ) else {
        return copy(api, backup, Attempt::First, "backup record incomplete", ctx).await;
    };
    let credentials = ctx.credentials(&[]).await?;
    let present = ctx
        .copier
        .exists(backup_image, digest, credentials)
        .await
        .map_err(|source| Error::Recheck {
            backup: backup_image.to_string(),
            source,
        })?;
    if !present {
        let note =
            format!("{backup_image}@{digest} is gone from the backup registry; copying again");
        ctx.event(&backup.object_ref(&()), true, "BackupMissing", note)
            .await;
        return copy(
            api,
            backup,
            Attempt::First,
            "backup missing from the registry",
            ctx,
        )
        .await;
    }
    let patch = json!({"status": {"lastCheckedAt": Time(Timestamp::now())}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "recording check of ImageBackup {name}"
        )))?;
    Ok(Action::requeue(ctx.settings.policy.recheck_interval))
}

/// Replaces the status with a merge patch (absent fields are sent as null, which clears them),
/// conditional on `resource_version` when given.
async fn write_status(
    api: &Api<ImageBackup>,
    name: &str,
    status: &ImageBackupStatus,
    resource_version: Option<String>,
) -> Result<(), Error> {
    let mut patch = json!({ "status": status });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).validation_strict(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::kube(format!("writing status of ImageBackup {name}")))?;
    Ok(())
}

async fn post_on_users(ctx: &Context, backup: &str, warning: bool, reason: &str, note: &str) {
    for user in ctx.users.any_of(backup, EVENT_FANOUT) {
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some(user.kind.into()),
            namespace: Some(user.namespace.clone()),
            name: Some(user.name.clone()),
            ..Default::default()
        };
        ctx.event(&reference, warning, reason, note.to_string())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copier::ImageCopier;
    use crate::crd::{ImageBackupSpec, RETRY_ANNOTATION};
    use crate::fixtures::{Fixture, ME, NAMESPACE, fixture, settings};
    use http::Method;
    use serde_json::Value;

    const STATUS_PATH: &str =
        "/apis/k8slab.io/v1alpha1/namespaces/image-backup/imagebackups/nginx/status";
    const IMAGE: &str = "docker.io/library/nginx:1.14.2";
    const BACKUP: &str = "backup.local:5000/mirror/docker.io/library/nginx:1.14.2";

    fn backup(status: Option<ImageBackupStatus>) -> ImageBackup {
        let mut b = ImageBackup::new(
            "nginx",
            ImageBackupSpec {
                image: IMAGE.into(),
                pull_secrets: vec![],
            },
        );
        b.metadata.namespace = Some(NAMESPACE.into());
        b.metadata.resource_version = Some("7".into());
        b.metadata.generation = Some(1);
        b.status = status;
        b
    }

    /// What the API server returns after a status patch: the object with the patched status.
    fn patched(b: &ImageBackup, body: &Value) -> Value {
        let mut object = serde_json::to_value(b).unwrap();
        object["status"] = body["status"].clone();
        object
    }

    fn status_of(body: &Value) -> ImageBackupStatus {
        serde_json::from_value(body["status"].clone()).unwrap()
    }

    fn run(f: &Fixture, b: &ImageBackup) -> tokio::task::JoinHandle<Result<Action, Error>> {
        tokio::spawn(reconcile(Arc::new(b.clone()), f.ctx.clone()))
    }

    #[tokio::test]
    async fn new_backup_is_claimed_copied_and_done() {
        let mut f = fixture(settings());
        let b = backup(None);
        let task = run(&f, &b);

        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert_eq!(
            claim.body["metadata"]["resourceVersion"], "7",
            "claim must be conditional"
        );
        let claimed = status_of(&claim.body);
        assert_eq!(
            (claimed.phase, claimed.attempts, claimed.holder.as_deref()),
            (Phase::Running, 1, Some(ME))
        );
        assert_eq!(claimed.backup_image.as_deref(), Some(BACKUP));
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);

        let done = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert!(
            done.body.get("metadata").is_none(),
            "the holder writes its result unconditionally"
        );
        let status = status_of(&done.body);
        assert_eq!(status.phase, Phase::Done);
        assert_eq!(
            status.backup_digest,
            Some(crate::copier::fake_digest(IMAGE))
        );
        assert_eq!(status.source_digest, status.backup_digest);
        assert!(status.bytes_copied > 0);
        assert_eq!(
            done.body["status"]["holder"],
            Value::Null,
            "holder cleared with an explicit null"
        );
        let reply = patched(&b, &done.body);
        done.ok(&reply);

        let action = task.await.unwrap().unwrap();
        assert_eq!(action, Action::requeue(settings().policy.recheck_interval));
        assert_eq!(f.copier.copies(), [IMAGE]);
        assert_eq!(f.server.event_reasons(), ["BackupStarted", "BackupDone"]);
    }

    #[tokio::test]
    async fn losing_the_claim_starts_no_copy() {
        let mut f = fixture(settings());
        let b = backup(None);
        let task = run(&f, &b);
        f.server
            .expect(Method::PATCH, STATUS_PATH)
            .await
            .fail(409, "Conflict");
        let action = task.await.unwrap().unwrap();
        assert_eq!(action, Action::requeue(AFTER_CONFLICT));
        assert!(f.copier.copies().is_empty());
        assert!(f.server.events().is_empty());
    }

    #[tokio::test]
    async fn failed_copy_is_retried_after_backoff_then_fails() {
        let mut f = fixture(settings());
        let error = CopyError::new(CopyErrorKind::Transfer, "registry said 503");
        f.copier.fail_next(IMAGE, vec![error.clone()]);
        let b = backup(None);
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let result = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let status = status_of(&result.body);
        assert_eq!((status.phase, status.attempts), (Phase::Pending, 1));
        assert_eq!(status.last_error.as_deref(), Some("registry said 503"));
        assert!(status.next_attempt_at.is_some());
        let reply = patched(&b, &result.body);
        result.ok(&reply);
        assert_eq!(
            task.await.unwrap().unwrap(),
            Action::requeue(Duration::from_secs(10))
        );
        assert_eq!(
            f.server.event_reasons(),
            ["BackupStarted", "BackupRetrying"]
        );

        // The last allowed attempt fails for good.
        let spent = ImageBackupStatus {
            attempts: settings().policy.max_attempts - 1,
            ..status
        };
        let mut b = backup(Some(ImageBackupStatus {
            next_attempt_at: None,
            ..spent
        }));
        b.metadata.resource_version = Some("8".into());
        f.copier.fail_next(IMAGE, vec![error]);
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert_eq!(claim.body["metadata"]["resourceVersion"], "8");
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let result = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let status = status_of(&result.body);
        assert_eq!((status.phase, status.attempts), (Phase::Failed, 5));
        let reply = patched(&b, &result.body);
        result.ok(&reply);
        assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
        assert_eq!(
            f.server.event_reasons().last().map(String::as_str),
            Some("BackupFailed")
        );
    }

    #[tokio::test]
    async fn running_copy_of_a_previous_leader_is_resumed_at_once_as_the_same_attempt() {
        let mut f = fixture(settings());
        // The previous leader wrote a heartbeat a second ago, then lost its lease: waiting for
        // the heartbeat to go stale would only delay the backup.
        let fresh = Time(Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(1));
        let b = backup(Some(ImageBackupStatus {
            phase: Phase::Running,
            attempts: 2,
            holder: Some("image-backup-controller-5f7c-old".into()),
            started_at: Some(fresh.clone()),
            heartbeat_at: Some(fresh),
            observed_generation: Some(1),
            ..Default::default()
        }));
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert_eq!(
            claim.body["metadata"]["resourceVersion"], "7",
            "the take-over is conditional"
        );
        let claimed = status_of(&claim.body);
        assert_eq!(
            (claimed.holder.as_deref(), claimed.attempts),
            (Some(ME), 2),
            "a resume is not another attempt"
        );
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let done = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert_eq!(status_of(&done.body).phase, Phase::Done);
        let reply = patched(&b, &done.body);
        done.ok(&reply);
        task.await.unwrap().unwrap();
        assert_eq!(f.copier.copies().len(), 1);
    }

    #[tokio::test]
    async fn an_unavailable_registry_is_put_on_hold_and_holds_no_slot() {
        let mut f = fixture(settings());
        let refused = CopyError::new(
            CopyErrorKind::Transfer,
            "HEAD https://registry-1.docker.io/v2/library/nginx/manifests/1.14.2: connection refused",
        )
        .unavailable("registry-1.docker.io");
        f.copier.fail_next(IMAGE, vec![refused]);
        let b = backup(None);
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let result = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let status = status_of(&result.body);
        assert_eq!(status.phase, Phase::Pending);
        assert!(
            status.conditions[0].message.contains("connection refused"),
            "the status says why: {}",
            status.conditions[0].message
        );
        let reply = patched(&b, &result.body);
        result.ok(&reply);
        task.await.unwrap().unwrap();

        // Another backup from the same registry: not claimed, not copied, requeued for when
        // the hold ends.
        let action = run(&f, &backup(None)).await.unwrap().unwrap();
        assert!(action != Action::await_change());
        assert_eq!(f.copier.copies().len(), 1);
        f.server.assert_idle();
    }

    #[tokio::test]
    async fn recheck_copies_again_when_the_backup_is_gone() {
        let mut f = fixture(settings());
        let long_ago = Time(Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(2));
        let done = ImageBackupStatus {
            phase: Phase::Done,
            attempts: 1,
            backup_image: Some(BACKUP.into()),
            backup_digest: Some(crate::copier::fake_digest(IMAGE)),
            last_checked_at: Some(long_ago),
            observed_generation: Some(1),
            ..Default::default()
        };
        // Present: only the check time is recorded.
        f.copier
            .copy(
                CopyRequest {
                    source: ImageRef::parse(IMAGE).unwrap(),
                    destination: BACKUP.parse().unwrap(),
                    credentials: vec![],
                },
                watch::channel(0).0,
            )
            .await
            .unwrap();
        let b = backup(Some(done.clone()));
        let task = run(&f, &b);
        let check = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert!(check.body["status"]["lastCheckedAt"].is_string());
        assert_eq!(
            check.body["status"].as_object().unwrap().len(),
            1,
            "only the check time changes"
        );
        let reply = patched(&b, &check.body);
        check.ok(&reply);
        task.await.unwrap().unwrap();

        // Gone: claimed and copied again.
        f.copier.remove(BACKUP);
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let claimed = status_of(&claim.body);
        assert_eq!((claimed.phase, claimed.attempts), (Phase::Running, 1));
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let result = f.server.expect(Method::PATCH, STATUS_PATH).await;
        assert_eq!(status_of(&result.body).phase, Phase::Done);
        let reply = patched(&b, &result.body);
        result.ok(&reply);
        task.await.unwrap().unwrap();
        assert_eq!(f.copier.copies().len(), 2);
        assert!(
            f.server
                .event_reasons()
                .contains(&"BackupMissing".to_string())
        );
    }

    #[tokio::test]
    async fn invalid_spec_fails_without_copying() {
        let mut f = fixture(settings());
        let mut b = backup(None);
        b.spec.image = "Not/A/Valid:Ref:".into();
        let task = run(&f, &b);
        let result = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let status = status_of(&result.body);
        assert_eq!(status.phase, Phase::Failed);
        assert!(status.last_error.unwrap().contains("Not/A/Valid:Ref:"));
        let reply = patched(&b, &result.body);
        result.ok(&reply);
        assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
        assert!(f.copier.copies().is_empty());
    }

    #[tokio::test]
    async fn failed_backup_is_retried_by_annotation() {
        let mut f = fixture(settings());
        let mut b = backup(Some(ImageBackupStatus {
            phase: Phase::Failed,
            attempts: 5,
            observed_generation: Some(1),
            ..Default::default()
        }));
        assert_eq!(run(&f, &b).await.unwrap().unwrap(), Action::await_change());
        b.metadata.annotations = Some([(RETRY_ANNOTATION.to_string(), "now".to_string())].into());
        let task = run(&f, &b);
        let claim = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let claimed = status_of(&claim.body);
        assert_eq!(
            (claimed.attempts, claimed.retry_token.as_deref()),
            (1, Some("now"))
        );
        let reply = patched(&b, &claim.body);
        claim.ok(&reply);
        let done = f.server.expect(Method::PATCH, STATUS_PATH).await;
        let reply = patched(&b, &done.body);
        done.ok(&reply);
        task.await.unwrap().unwrap();
        assert_eq!(f.copier.copies().len(), 1);
    }
}
