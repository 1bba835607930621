//! The copy step, behind a small trait so the reconcilers can be tested without a registry.
//!
//! [`ImageCopier`] is what the `ImageBackup` reconciler needs from a copier: where the backup
//! of an image goes, copy it there (reporting bytes as they move), and tell whether a backup is
//! still present. Credentials travel as raw `.dockerconfigjson` documents, the format of the
//! `kubernetes.io/dockerconfigjson` secrets they come from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::watch;

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
    pub destination: String,
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
}

impl CopyError {
    pub fn new(kind: CopyErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The copy step as the controller uses it.
pub trait ImageCopier: Send + Sync + 'static {
    /// Where the backup of `source` lives.
    fn backup_reference(&self, source: &ImageRef) -> Result<String, CopyError>;

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

/// An in-process registry: copies are recorded, backups are a map. For tests and benchmarks
/// of the controller, never for production.
#[derive(Clone, Default)]
pub struct InMemoryCopier {
    inner: Arc<Mutex<InMemoryState>>,
    registry: String,
}

#[derive(Default)]
struct InMemoryState {
    stored: HashMap<String, String>,
    copies: Vec<String>,
    failures: HashMap<String, Vec<CopyError>>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl InMemoryCopier {
    pub fn new(registry: &str) -> Self {
        Self {
            inner: Arc::default(),
            registry: registry.trim_end_matches('/').to_string(),
        }
    }

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
    fn backup_reference(&self, source: &ImageRef) -> Result<String, CopyError> {
        let mut name = format!(
            "{}/{}/{}",
            self.registry,
            source.registry(),
            source.repository()
        );
        match (source.tag(), source.digest()) {
            (Some(tag), _) => name.push_str(&format!(":{tag}")),
            (None, Some(digest)) => name.push_str(&format!(":{}", digest.replace(':', "-"))),
            (None, None) => {}
        }
        Ok(name)
    }

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
                .insert(request.destination, digest.clone());
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
