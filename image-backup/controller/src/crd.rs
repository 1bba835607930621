//! The `ImageBackup` custom resource: one per image the cluster runs, in the controller's
//! namespace. The spec says what to back up; the status is the controller's record of it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of our resources, also the prefix of our annotations and labels.
pub const GROUP: &str = "k8slab.io";
/// Annotation on an `ImageBackup`: changing its value retries a `Failed` backup.
pub const RETRY_ANNOTATION: &str = "k8slab.io/retry";
/// Label on every `ImageBackup` we create.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`], also our field manager and event reporter.
pub const MANAGER: &str = "image-backup-controller";
/// The condition type we maintain.
pub const READY: &str = "Ready";

/// A backup of one container image in the backup registry.
// Several `printcolumn(...)` entries share keys like `type_`; clippy mistakes them for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "k8slab.io",
    version = "v1alpha1",
    kind = "ImageBackup",
    namespaced,
    status = "ImageBackupStatus",
    shortname = "ib",
    category = "image-backup",
    doc = "A backup of one container image, kept in the backup registry.",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Backup",
        type_ = "string",
        json_path = ".status.backupImage",
        priority = "1"
    ),
    printcolumn(name = "Attempts", type_ = "integer", json_path = ".status.attempts"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageBackupSpec {
    /// The source image, normalised (`registry/repository[:tag][@digest]`).
    pub image: String,
    /// Secrets that can pull the source image: the `imagePullSecrets` of the workload that asked
    /// for the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<SecretRef>,
}

/// A secret in some namespace.
#[derive(
    Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

/// Where a backup is in its life.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Waiting for a copy: new, or retrying after a failed attempt.
    #[default]
    Pending,
    /// A copy is running, in the process named by `status.holder`.
    Running,
    /// The backup exists in the backup registry.
    Done,
    /// Every attempt failed; retried when the spec or the retry annotation changes.
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Pending, Phase::Running, Phase::Done, Phase::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Done => "Done",
            Phase::Failed => "Failed",
        }
    }
}

/// What the controller knows about a backup. Absent fields are written as `null` so that a
/// merge patch of the whole status clears them.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageBackupStatus {
    #[serde(default)]
    pub phase: Phase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Digest of the source manifest (or index) that was copied.
    pub source_digest: Option<String>,
    /// Reference of the backup in the backup registry.
    pub backup_image: Option<String>,
    /// Digest of the backup; equal to the source digest for a full copy.
    pub backup_digest: Option<String>,
    /// Bytes moved by the last copy (blobs already present are not counted).
    #[serde(default)]
    pub bytes_copied: u64,
    /// Copy attempts since the last success or the last explicit retry.
    #[serde(default)]
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Identity of the process running the copy while `phase` is `Running`.
    pub holder: Option<String>,
    /// `metadata.generation` this status was computed for.
    pub observed_generation: Option<i64>,
    /// Value of the retry annotation last acted upon.
    pub retry_token: Option<String>,
    pub started_at: Option<Time>,
    /// Last sign of life of a running copy.
    pub heartbeat_at: Option<Time>,
    pub completed_at: Option<Time>,
    /// Last time the backup was seen in the backup registry.
    pub last_checked_at: Option<Time>,
    /// Earliest time of the next copy attempt while retrying.
    pub next_attempt_at: Option<Time>,
}

impl ImageBackup {
    pub fn phase(&self) -> Phase {
        self.status.as_ref().map(|s| s.phase).unwrap_or_default()
    }
}

/// The CustomResourceDefinition as YAML, as committed in `deploy/crd.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&ImageBackup::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crd.yaml");
        let generated = crd_yaml().unwrap();
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var_os("UPDATE_CRD").is_some() {
            std::fs::write(path, &generated).unwrap();
            return;
        }
        assert!(
            committed == generated,
            "deploy/crd.yaml is stale: run `UPDATE_CRD=1 cargo test -p image-backup-controller committed_crd` \
             or `image-backup controller crd > image-backup/controller/deploy/crd.yaml`"
        );
    }

    #[test]
    fn crd_has_status_subresource_and_columns() {
        let crd = ImageBackup::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<_> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, ["Image", "Phase", "Backup", "Attempts", "Age"]);
    }

    #[test]
    fn status_round_trips_and_clears_absent_fields() {
        let status = ImageBackupStatus {
            phase: Phase::Done,
            backup_digest: Some("sha256:x".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["phase"], "Done");
        assert!(json["lastError"].is_null() && json.as_object().unwrap().contains_key("lastError"));
        let back: ImageBackupStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
        // What the API server returns after clearing: the keys are simply absent.
        let sparse: ImageBackupStatus = serde_json::from_str(r#"{"phase":"Running"}"#).unwrap();
        assert_eq!(sparse.phase, Phase::Running);
    }
}
