//! The controller's gRPC API (`ImageBackupService`), as the charm calls it.
//!
//! The controller runs in the same pod, so the charm reaches it on loopback
//! ([`crate::platform::Platform::controller_api`]). Every call is bounded in time: a hook must
//! not hang on a controller that is starting or stuck.

use std::time::Duration;

use proto::image_backup::v1::image_backup_service_client::ImageBackupServiceClient;
use proto::image_backup::v1::{
    Backup, BackupNowRequest, BackupNowResponse, BackupPhase, GetBackupRequest,
    ListAdmissionsRequest, ListAdmissionsResponse, ListBackupsRequest, RestoreOriginalsRequest,
    RestoredWorkload,
};
use tonic::transport::{Channel, Endpoint};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A failed call, with the address and the call it was.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid controller API address {address:?}: {source}")]
    Address {
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("controller API at {address} unreachable: {source}")]
    Connect {
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("controller API {call}: {}: {}", .status.code(), .status.message())]
    Call {
        call: &'static str,
        status: tonic::Status,
    },
}

impl ApiError {
    /// Whether the controller is not there or not ready yet (as opposed to refusing the
    /// request): callers report that as Waiting rather than a failure.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ApiError::Connect { .. } => true,
            ApiError::Call { status, .. } => matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
            ),
            ApiError::Address { .. } => false,
        }
    }

    fn call(call: &'static str) -> impl FnOnce(tonic::Status) -> ApiError {
        move |status| ApiError::Call { call, status }
    }
}

/// A connected client.
#[derive(Debug, Clone)]
pub struct ControllerApi {
    client: ImageBackupServiceClient<Channel>,
}

impl ControllerApi {
    /// Connects to `address` (`http://host:port`).
    pub async fn connect(address: &str) -> Result<Self, ApiError> {
        let endpoint = Endpoint::from_shared(address.to_string())
            .map_err(|source| ApiError::Address {
                address: address.to_string(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ApiError::Connect {
                address: address.to_string(),
                source,
            })?;
        Ok(Self {
            client: ImageBackupServiceClient::new(channel),
        })
    }

    /// Every backup, ordered by source.
    pub async fn list_backups(&mut self) -> Result<Vec<Backup>, ApiError> {
        let response = self
            .client
            .list_backups(ListBackupsRequest { phases: vec![] })
            .await
            .map_err(ApiError::call("ListBackups"))?;
        Ok(response.into_inner().backups)
    }

    /// The backup of `source`, or `None` when the controller has none.
    pub async fn get_backup(&mut self, source: &str) -> Result<Option<Backup>, ApiError> {
        match self
            .client
            .get_backup(GetBackupRequest {
                source: source.to_string(),
            })
            .await
        {
            Ok(response) => Ok(Some(response.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(ApiError::call("GetBackup")(status)),
        }
    }

    /// Asks for `source` to be backed up now.
    pub async fn backup_now(
        &mut self,
        source: &str,
        force: bool,
    ) -> Result<BackupNowResponse, ApiError> {
        let response = self
            .client
            .backup_now(BackupNowRequest {
                source: source.to_string(),
                force,
            })
            .await
            .map_err(ApiError::call("BackupNow"))?;
        Ok(response.into_inner())
    }

    /// Switches rolled-out workloads back to their original images (`namespace` empty: all).
    pub async fn restore_originals(
        &mut self,
        namespace: &str,
    ) -> Result<Vec<RestoredWorkload>, ApiError> {
        let response = self
            .client
            .restore_originals(RestoreOriginalsRequest {
                namespace: namespace.to_string(),
            })
            .await
            .map_err(ApiError::call("RestoreOriginals"))?;
        Ok(response.into_inner().workloads)
    }

    /// What pod admission did lately on the replica that answers (this unit's controller):
    /// its mode, its totals and at most `limit` decisions, newest first.
    pub async fn list_admissions(
        &mut self,
        limit: u32,
    ) -> Result<ListAdmissionsResponse, ApiError> {
        let response = self
            .client
            .list_admissions(ListAdmissionsRequest { limit })
            .await
            .map_err(ApiError::call("ListAdmissions"))?;
        Ok(response.into_inner())
    }
}

/// The phase as users read it: `Pending`, `Running`, `Done`, `Failed` (`Unknown` for a value
/// a newer controller might send).
pub fn phase_name(phase: i32) -> &'static str {
    match BackupPhase::try_from(phase) {
        Ok(BackupPhase::Pending) => "Pending",
        Ok(BackupPhase::Running) => "Running",
        Ok(BackupPhase::Done) => "Done",
        Ok(BackupPhase::Failed) => "Failed",
        Ok(BackupPhase::Unspecified) | Err(_) => "Unknown",
    }
}
