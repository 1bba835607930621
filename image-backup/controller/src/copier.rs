//! The copy step, behind a small trait so the reconcilers can be tested without a registry.
//!
//! [`ImageCopier`] is what the `ImageBackup` reconciler needs from a copier: copy an image to
//! its backup reference (reporting bytes as they move), and tell whether a backup is still
//! present. [`RegistryCopier`] does it with `image-backup-copier`; [`InMemoryCopier`] stands in
//! for it in tests and benchmarks. Credentials travel as raw `.dockerconfigjson` documents, the format of the
//! `kubernetes.io/dockerconfigjson` secrets they come from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::watch;

use image_backup_copier::{
    Copier, CopyOptions, CredentialStore, ErrorKind, ProgressEvent, Reference,
};

use crate::image::ImageRef;

/// The content of one `kubernetes.io/dockerconfigjson` secret.
#[derive(Clone, PartialEq, Eq)]
pub struct DockerConfig(pub Vec<u8>);

impl std::fmt::Debug for DockerConfig {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DockerConfig({} bytes)", self.0.len())
    }
}

/// One copy to run.
#[derive(Clone, Debug)]
pub struct CopyRequest {
    pub source: ImageRef,
    pub destination: Reference,
    /// Tried in order for both registries: the registry secret first, then pull secrets.
    pub credentials: Vec<DockerConfig>,
}

/// What a finished copy reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOutcome {
    pub source_digest: String,
    pub backup_digest: String,
    pub bytes_copied: u64,
}

/// Why a copy failed, coarse enough for a metric label and for deciding whether to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyErrorKind {
    /// The reference or request is wrong; retrying will not help until someone changes it.
    BadInput,
    Auth,
    NotFound,
    /// Network, registry or digest trouble: worth retrying.
    Transfer,
}

impl CopyErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyErrorKind::BadInput => "bad_input",
            CopyErrorKind::Auth => "auth",
            CopyErrorKind::NotFound => "not_found",
            CopyErrorKind::Transfer => "transfer",
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct CopyError {
    pub kind: CopyErrorKind,
    pub message: String,
    /// The registry (`host[:port]` of its API) that failed in a way that may pass (refused,
    /// timed out, 429, 5xx): other copies through it wait ([`crate::registries`]).
    pub unavailable: Option<String>,
}

impl CopyError {
    pub fn new(kind: CopyErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            unavailable: None,
        }
    }

    /// The same error, blaming `registry` for being unavailable.
    pub fn unavailable(mut self, registry: impl Into<String>) -> Self {
        self.unavailable = Some(registry.into());
        self
    }
}

/// The copy step as the controller uses it.
pub trait ImageCopier: Send + Sync + 'static {
    /// Copies `request.source` to `request.destination`, sending the running total of bytes
    /// moved on `progress`.
    fn copy(
        &self,
        request: CopyRequest,
        progress: watch::Sender<u64>,
    ) -> BoxFuture<'_, Result<CopyOutcome, CopyError>>;

    /// True when `backup` exists in the registry with manifest `digest`.
    fn exists<'a>(
        &'a self,
        backup: &'a str,
        digest: &'a str,
        credentials: Vec<DockerConfig>,
    ) -> BoxFuture<'a, Result<bool, CopyError>>;
}

/// The production copier: [`image_backup_copier::Copier`] against real registries.
///
/// Registry credentials belong to a copier (it caches tokens per registry), while ours vary per
/// backup (the workload's pull secrets), so there is one copier per distinct set of
/// credentials, kept for the life of the process: a cluster has few distinct sets.
pub struct RegistryCopier {
    options: CopyOptions,
    copiers: Mutex<HashMap<Vec<u8>, Copier>>,
}

impl RegistryCopier {
    /// `options` are the base: insecure registries, jobs, retries, and credentials that every
    /// copy may use.
    pub fn new(options: CopyOptions) -> Result<Self, image_backup_copier::Error> {
        let copier = Copier::new(options.clone())?;
        let copiers = Mutex::new(HashMap::from([(Vec::new(), copier)]));
        Ok(Self { options, copiers })
    }

    fn copier_for(&self, credentials: &[DockerConfig]) -> Result<Copier, CopyError> {
        let key = credentials_key(credentials);
        let mut copiers = self.copiers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(copier) = copiers.get(&key) {
            return Ok(copier.clone());
        }
        let mut options = self.options.clone();
        options
            .client
            .credentials
            .merge(credential_store(credentials).map_err(|e| {
                CopyError::new(CopyErrorKind::Auth, format!("registry credentials: {e}"))
            })?);
        let copier = Copier::new(options).map_err(copy_error)?;
        copiers.insert(key, copier.clone());
        Ok(copier)
    }
}

/// A short key for a list of credential documents (empty for none), to keep one registry
/// client per distinct list.
pub(crate) fn credentials_key(credentials: &[DockerConfig]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    if credentials.is_empty() {
        return Vec::new();
    }
    let mut hasher = Sha256::new();
    for c in credentials {
        hasher.update((c.0.len() as u64).to_le_bytes());
        hasher.update(&c.0);
    }
    hasher.finalize().to_vec()
}

/// The credentials of `credentials` in one store, earlier documents winning.
pub(crate) fn credential_store(
    credentials: &[DockerConfig],
) -> Result<CredentialStore, image_backup_copier::auth::CredentialsError> {
    let mut store = CredentialStore::new();
    // Merge from the last one, each merge overriding.
    for config in credentials.iter().rev() {
        store.merge(CredentialStore::from_dockerconfigjson_secret(&config.0)?);
    }
    Ok(store)
}

fn copy_error(error: image_backup_copier::Error) -> CopyError {
    let kind = match error.kind() {
        ErrorKind::InvalidInput => CopyErrorKind::BadInput,
        ErrorKind::Auth => CopyErrorKind::Auth,
        ErrorKind::NotFound => CopyErrorKind::NotFound,
        ErrorKind::Transfer => CopyErrorKind::Transfer,
    };
    let unavailable = error.is_transient().then(|| error.host()).flatten();
    CopyError {
        unavailable,
        ..CopyError::new(kind, error.to_string())
    }
}

impl ImageCopier for RegistryCopier {
    fn copy(
        &self,
        request: CopyRequest,
        progress: watch::Sender<u64>,
    ) -> BoxFuture<'_, Result<CopyOutcome, CopyError>> {
        Box::pin(async move {
            let copier = self.copier_for(&request.credentials)?;
            let on_progress = move |event: ProgressEvent| {
                if let ProgressEvent::BlobBytes { bytes } = event {
                    progress.send_modify(|total| *total += bytes);
                }
            };
            // Awaited in place: dropping this future (a cancelled reconcile, shutdown) stops
            // the copy; the copier's `Copier::copy` future is Send (a test there says so).
            let report = copier
                .copy(
                    request.source.reference(),
                    &request.destination,
                    on_progress,
                )
                .await
                .map_err(copy_error)?;
            Ok(CopyOutcome {
                source_digest: report.source_digest.to_string(),
                backup_digest: report.destination_digest.to_string(),
                bytes_copied: report.bytes_copied,
            })
        })
    }

    fn exists<'a>(
        &'a self,
        backup: &'a str,
        digest: &'a str,
        credentials: Vec<DockerConfig>,
    ) -> BoxFuture<'a, Result<bool, CopyError>> {
        Box::pin(async move {
            let reference = Reference::parse(backup)
                .map_err(|e| CopyError::new(CopyErrorKind::BadInput, e.to_string()))?;
            // Ask by tag: the question is whether the backup's name still leads to its content.
            let reference = reference.without_digest().with_default_tag();
            let copier = self.copier_for(&credentials)?;
            let found = copier.resolve(&reference).await.map_err(copy_error)?;
            Ok(found.is_some_and(|d| d.to_string() == digest))
        })
    }
}

/// An in-process registry: copies are recorded, backups are a map. For tests and benchmarks
/// of the controller, never for production.
#[derive(Clone, Default)]
pub struct InMemoryCopier {
    inner: Arc<Mutex<InMemoryState>>,
}

#[derive(Default)]
struct InMemoryState {
    stored: HashMap<String, String>,
    copies: Vec<String>,
    failures: HashMap<String, Vec<CopyError>>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl InMemoryCopier {
    /// Makes the next copies of `source` fail with these errors, in order.
    pub fn fail_next(&self, source: &str, errors: Vec<CopyError>) {
        self.lock().failures.insert(source.to_string(), errors);
    }

    /// Sources copied so far, in order.
    pub fn copies(&self) -> Vec<String> {
        self.lock().copies.clone()
    }

    /// Forgets a backup, as if someone deleted it from the registry.
    pub fn remove(&self, backup: &str) {
        self.lock().stored.remove(backup);
    }

    /// Makes copies wait for a permit on `gate` before finishing.
    pub fn gate(&self, gate: Arc<tokio::sync::Semaphore>) {
        self.lock().gate = Some(gate);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InMemoryState> {
        // A panic while holding this lock is a test failure already; keep going for the report.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A digest that stands for the content of `source` in the in-memory registry.
pub fn fake_digest(source: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(source.as_bytes())))
}

impl ImageCopier for InMemoryCopier {
    fn copy(
        &self,
        request: CopyRequest,
        progress: watch::Sender<u64>,
    ) -> BoxFuture<'_, Result<CopyOutcome, CopyError>> {
        Box::pin(async move {
            let source = request.source.to_string();
            let (failure, gate) = {
                let mut state = self.lock();
                state.copies.push(source.clone());
                let failure = state
                    .failures
                    .get_mut(&source)
                    .and_then(|f| (!f.is_empty()).then(|| f.remove(0)));
                (failure, state.gate.clone())
            };
            if let Some(gate) = gate {
                let _permit = gate.acquire().await;
            }
            if let Some(error) = failure {
                return Err(error);
            }
            let digest = fake_digest(&source);
            let bytes = source.len() as u64 * 1000;
            progress.send_replace(bytes);
            self.lock()
                .stored
                .insert(request.destination.to_string(), digest.clone());
            Ok(CopyOutcome {
                source_digest: digest.clone(),
                backup_digest: digest,
                bytes_copied: bytes,
            })
        })
    }

    fn exists<'a>(
        &'a self,
        backup: &'a str,
        digest: &'a str,
        _: Vec<DockerConfig>,
    ) -> BoxFuture<'a, Result<bool, CopyError>> {
        Box::pin(async move { Ok(self.lock().stored.get(backup).is_some_and(|d| d == digest)) })
    }
}
