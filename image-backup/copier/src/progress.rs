//! Progress of a copy, as events: for progress bars, logs, or a controller's status.

use crate::digest::Digest;

/// What happened to one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobOutcome {
    /// The destination already had it.
    Skipped,
    /// Mounted from the source repository of the same registry: no bytes moved.
    Mounted,
    /// Streamed from source to destination.
    Copied,
}

/// One step of a copy. Events of different blobs interleave (blobs are copied concurrently).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProgressEvent {
    /// The destination tag already names the source digest: nothing to do.
    AlreadyPresent {
        digest: Digest,
    },
    /// Manifests fetched; `blobs`/`bytes` is what remains to check and possibly copy.
    Planned {
        source_digest: Digest,
        manifests: usize,
        blobs: usize,
        bytes: u64,
    },
    BlobStarted {
        digest: Digest,
        size: u64,
    },
    /// `bytes` more bytes of some blob were read from the source and sent on.
    BlobBytes {
        bytes: u64,
    },
    BlobFinished {
        digest: Digest,
        size: u64,
        outcome: BlobOutcome,
    },
    /// A transient failure; the blob is being copied again from the start.
    BlobRetrying {
        digest: Digest,
        attempt: u32,
        error: String,
    },
    ManifestPushed {
        digest: Digest,
        target: String,
    },
}

/// Receives progress events. Implemented for closures and for Tokio channel senders.
pub trait Progress: Send + Sync {
    fn event(&self, event: ProgressEvent);
}

impl<F: Fn(ProgressEvent) + Send + Sync> Progress for F {
    fn event(&self, event: ProgressEvent) {
        self(event)
    }
}

impl Progress for tokio::sync::mpsc::UnboundedSender<ProgressEvent> {
    fn event(&self, event: ProgressEvent) {
        // A receiver that went away no longer wants progress; the copy goes on.
        let _ = self.send(event);
    }
}

/// Ignores all events.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: ProgressEvent) {}
}
