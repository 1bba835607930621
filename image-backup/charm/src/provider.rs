//! The provider side of the `image-backup` relation.
//!
//! For each related application (leader only): read the images it asks to protect, make sure
//! the controller has a backup of each (`GetBackup`, and `BackupNow` for an image it does not
//! know), and answer in this application's bag with the registry, the API address and, per
//! requested image whose backup is done, its reference and digest.
//!
//! Choices:
//! - A failed backup is reported, not retried from here: the controller retries with backoff
//!   and gives up for a reason worth reading; `juju run image-backup/leader backup-now
//!   image=...` retries it.
//! - When the controller cannot be asked (starting, restarting), entries already published for
//!   images still requested are kept: a restart must not make requirers believe their images
//!   lost their backups.
//! - No hook fires when a copy finishes; `update-status` (every 5 minutes by default) and any
//!   relation or config change publish what finished since.

use std::collections::{BTreeMap, BTreeSet};

use charm_core::contract::{
    self, PublishError, RemoteError, ValidationErrors, publish, read_remote,
};
use charm_core::{Model, ModelError};
use proto::image_backup::v1::{
    BackedUpImage, Backup, BackupPhase, ImageBackupProviderData, ImageBackupRequirerData,
    check_digest, check_image,
};

use crate::api::{ApiError, ControllerApi};

/// The endpoint, as named in `charmcraft.yaml`.
pub const ENDPOINT: &str = "image-backup";

/// Where one requested image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    /// Backed up: the entry to publish.
    Done(BackedUpImage),
    /// Pending or running.
    InProgress,
    /// Gave up; the controller's last error.
    Failed(String),
    /// The controller could not be asked.
    Unknown,
}

/// The state of an image from the controller's backup of it (`source` as the requirer wrote
/// it). A Done backup without a valid reference and digest is not published: the requirer would
/// reject the whole bag.
pub fn image_state(source: &str, backup: &Backup) -> ImageState {
    match BackupPhase::try_from(backup.phase) {
        Ok(BackupPhase::Done) => {
            if check_image(&backup.backup_reference).is_ok()
                && check_digest(&backup.backup_digest).is_ok()
            {
                ImageState::Done(BackedUpImage {
                    source: source.to_string(),
                    reference: backup.backup_reference.clone(),
                    digest: backup.backup_digest.clone(),
                })
            } else {
                tracing::warn!(
                    source,
                    reference = backup.backup_reference,
                    digest = backup.backup_digest,
                    "controller reports a done backup without a valid reference and digest"
                );
                ImageState::InProgress
            }
        }
        Ok(BackupPhase::Failed) => ImageState::Failed(backup.error.clone()),
        _ => ImageState::InProgress,
    }
}

/// The provider bag for one relation: every requested image that is done, in the requirer's
/// order, and entries from `previous` for images whose state is unknown.
pub fn provider_data(
    registry: &str,
    api_address: &str,
    requested: &[String],
    states: &BTreeMap<String, ImageState>,
    previous: Option<&ImageBackupProviderData>,
) -> ImageBackupProviderData {
    let mut seen = BTreeSet::new();
    let backups = requested
        .iter()
        .filter(|image| seen.insert(image.as_str()))
        .filter_map(|image| match states.get(image) {
            Some(ImageState::Done(entry)) => Some(entry.clone()),
            Some(ImageState::Unknown) | None => previous.and_then(|p| p.backup_of(image)).cloned(),
            Some(ImageState::InProgress | ImageState::Failed(_)) => None,
        })
        .collect();
    ImageBackupProviderData {
        registry: registry.to_string(),
        api_address: api_address.to_string(),
        backups,
    }
}

/// What serving the relations came to, for the status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Distinct images requested over all relations.
    pub requested: usize,
    pub done: usize,
    /// Failed images and the controller's reason.
    pub failed: Vec<(String, String)>,
    /// Applications whose bag is invalid, with the errors.
    pub invalid: Vec<(String, ValidationErrors)>,
    /// Why the controller could not be asked, if it could not.
    pub unavailable: Option<String>,
}

/// Serving the relations failed in a way a status cannot express.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Serves every `image-backup` relation. Only the leader does anything: it is the one that may
/// write the application bag, and one unit asking the controller is enough.
///
/// `api` is connected lazily by `connect`, once, and only if some image is requested.
pub async fn serve<F, Fut>(
    model: &Model,
    registry: &str,
    api_address: &str,
    connect: F,
) -> Result<Report, ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ControllerApi, ApiError>>,
{
    let mut report = Report::default();
    if !model.is_leader()? {
        return Ok(report);
    }
    let relations = model.relations(ENDPOINT)?;
    let mut requests = Vec::new();
    for relation in &relations {
        let images = match read_remote::<ImageBackupRequirerData>(relation) {
            Ok(data) => data.images,
            Err(RemoteError::NotReady { .. }) => Vec::new(),
            Err(RemoteError::Invalid { errors, .. }) => {
                let app = relation.remote_app()?.unwrap_or_default();
                tracing::warn!(%app, %errors, "invalid image-backup request");
                report.invalid.push((app, errors));
                Vec::new()
            }
            Err(RemoteError::Model(e)) => return Err(e.into()),
        };
        requests.push(images);
    }

    let wanted: BTreeSet<&String> = requests.iter().flatten().collect();
    report.requested = wanted.len();
    let mut states = BTreeMap::new();
    if !wanted.is_empty() {
        match connect().await {
            Ok(mut api) => {
                for image in &wanted {
                    let state = match ask(&mut api, image).await {
                        Ok(state) => state,
                        Err(e) if e.is_unavailable() => {
                            report.unavailable = Some(e.to_string());
                            ImageState::Unknown
                        }
                        Err(e) => return Err(e.into()),
                    };
                    states.insert((*image).clone(), state);
                }
            }
            Err(e) if e.is_unavailable() => report.unavailable = Some(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    for (image, state) in &states {
        match state {
            ImageState::Done(_) => report.done += 1,
            ImageState::Failed(reason) => report.failed.push((image.clone(), reason.clone())),
            ImageState::InProgress | ImageState::Unknown => {}
        }
    }

    for (relation, images) in relations.iter().zip(&requests) {
        let previous =
            contract::decode_remote::<ImageBackupProviderData>(&relation.local_app_data()?)
                .ok()
                .flatten();
        let data = provider_data(registry, api_address, images, &states, previous.as_ref());
        publish(model, relation, &data)?;
    }
    Ok(report)
}

/// The state of one image, asking for a backup when the controller has none.
async fn ask(api: &mut ControllerApi, image: &str) -> Result<ImageState, ApiError> {
    let backup = match api.get_backup(image).await? {
        Some(backup) => backup,
        None => {
            tracing::info!(image, "asking the controller for a backup");
            api.backup_now(image, false)
                .await?
                .backup
                .unwrap_or_default()
        }
    };
    Ok(image_state(image, &backup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm_core::contract::BagCodec;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn backup(phase: BackupPhase, reference: &str) -> Backup {
        Backup {
            phase: phase.into(),
            backup_reference: reference.into(),
            backup_digest: if reference.is_empty() {
                String::new()
            } else {
                DIGEST.into()
            },
            error: if phase == BackupPhase::Failed {
                "manifest unknown".into()
            } else {
                String::new()
            },
            ..Backup::default()
        }
    }

    fn done(source: &str, reference: &str) -> BackedUpImage {
        BackedUpImage {
            source: source.into(),
            reference: reference.into(),
            digest: DIGEST.into(),
        }
    }

    #[test]
    fn states_follow_the_phase() {
        assert_eq!(
            image_state("nginx:1.27", &backup(BackupPhase::Done, "reg/nginx:1.27")),
            ImageState::Done(done("nginx:1.27", "reg/nginx:1.27"))
        );
        assert_eq!(
            image_state("nginx", &backup(BackupPhase::Running, "")),
            ImageState::InProgress
        );
        assert_eq!(
            image_state("nginx", &backup(BackupPhase::Failed, "")),
            ImageState::Failed("manifest unknown".into())
        );
        // Done without a usable reference: not published.
        assert_eq!(
            image_state("nginx", &backup(BackupPhase::Done, "")),
            ImageState::InProgress
        );
    }

    #[test]
    fn bag_lists_done_images_in_request_order_and_keeps_unknown_ones() {
        let requested: Vec<String> = ["b:1", "a:1", "c:1", "d:1", "b:1"]
            .map(String::from)
            .to_vec();
        let states: BTreeMap<String, ImageState> = [
            ("a:1", ImageState::Done(done("a:1", "reg/a:1"))),
            ("b:1", ImageState::Done(done("b:1", "reg/b:1"))),
            ("c:1", ImageState::Unknown),
            ("d:1", ImageState::Failed("x".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let previous = ImageBackupProviderData {
            registry: "reg".into(),
            api_address: "http://a:1".into(),
            backups: vec![done("c:1", "reg/c:1"), done("gone:1", "reg/gone:1")],
        };
        let data = provider_data(
            "reg",
            "http://image-backup.m.svc.cluster.local:50051",
            &requested,
            &states,
            Some(&previous),
        );
        assert_eq!(
            data.backups,
            [
                done("b:1", "reg/b:1"),
                done("a:1", "reg/a:1"),
                done("c:1", "reg/c:1")
            ]
        );
        assert_eq!(data.registry, "reg");
        data.to_bag().unwrap();
    }
}
