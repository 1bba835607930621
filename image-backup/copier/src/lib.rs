//! OCI image copier: digest-preserving copies between registries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), image_backup_copier::Error> {
//! use image_backup_copier::{Copier, CopyOptions, NoProgress, Reference};
//!
//! let copier = Copier::new(CopyOptions::default())?;
//! let report = copier
//!     .copy(
//!         &Reference::parse("nginx:1.25")?,
//!         &Reference::parse("backup.example/mirror/docker.io/library/nginx:1.25")?,
//!         NoProgress,
//!     )
//!     .await?;
//! assert_eq!(report.source_digest, report.destination_digest);
//! # Ok(()) }
//! ```
//!
//! # What a copy does
//! 1. If the destination tag already names the source digest, stop: two HEAD requests and no
//!    blob traffic.
//! 2. Fetch the source manifest raw, verify its digest; for an index, fetch every child the
//!    destination lacks (a child the destination has is complete there, since registries
//!    refuse manifests whose references are missing).
//! 3. Copy each blob once (deduplicated across the whole image), `jobs` at a time: skip it if
//!    the destination has it, mount it when source and destination share a registry, else
//!    stream it from GET to upload, verifying size and digest on the way. The last chunk is
//!    held back until the digest checks out, so a corrupted blob is never committed; the
//!    upload is then cancelled.
//! 4. Push child manifests by digest, then the root under the tag, as the exact bytes fetched:
//!    the backup has the source's digest, and a failed copy leaves no tag.
//!
//! # Using it from a controller
//! - One [`Copier`] per process (it is `Clone`; clones share connections and tokens); copies may
//!   run concurrently. Dropping a copy's future cancels it; no tag is written then either.
//! - [`Copier::resolve`] tells whether a reference exists and its digest (one HEAD).
//! - Progress: pass a closure or a `tokio::sync::mpsc::UnboundedSender<ProgressEvent>`.
//! - [`CopyReport`] (serialisable) carries source and backup digests and what moved.
//! - [`BackupNaming`] maps a workload's image to its backup; [`BackupNaming::is_backup`]
//!   recognises images that already are backups.
//! - Credentials from a `kubernetes.io/dockerconfigjson` Secret:
//!   [`CredentialStore::from_dockerconfigjson_secret`].
//! - [`Error::kind`] separates bad input, auth, not found and transfer failures;
//!   [`Error::is_transient`] says whether retrying later may help.
//! - Tests: the `testing` feature's [`testing::TestRegistry`] runs a real registry.
//!
//! # Choices
//! - HTTP is reqwest with rustls and the ring provider (installed process-wide by
//!   [`registry::Client::new`] if no provider is): a second provider would make rustls panic.
//!   Plain HTTP is used only for registries named insecure and for loopback ones.
//! - Authentication follows the registry's challenge: basic, or bearer tokens fetched per
//!   registry and scope and cached until shortly before expiry. See [`auth`] for where
//!   credentials come from.
//! - Transient failures (connection errors, 429, 5xx) are retried with bounded exponential
//!   backoff ([`RetryPolicy`]); a blob transfer is retried from the start.
//! - Backup names: [`BackupNaming`].

pub mod auth;
mod copy;
pub mod digest;
mod error;
pub mod manifest;
pub mod naming;
mod plan;
mod progress;
pub mod reference;
pub mod registry;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth::{CredentialStore, Credentials};
pub use copy::{Copier, CopyOptions, CopyReport};
pub use digest::Digest;
pub use error::{Cause, Error, ErrorKind};
pub use manifest::Platform;
pub use naming::BackupNaming;
pub use progress::{BlobOutcome, NoProgress, Progress, ProgressEvent};
pub use reference::Reference;
pub use registry::{ClientOptions, UploadMode};
pub use retry::RetryPolicy;
