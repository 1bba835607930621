//! The copy itself: resolve, plan, blobs, then manifests children-first, the tag last.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Descriptor, Manifest, Platform, media_type};
use crate::plan::{Plan, plan};
use crate::progress::{BlobOutcome, Progress, ProgressEvent};
use crate::reference::{Reference, Selector};
use crate::registry::{
    Client, ClientOptions, Failure, ManifestHead, MountOutcome, Repository, UploadMode, Verified,
    count_requests,
};
use crate::retry::RetryPolicy;

/// How copies are made.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Registry access: credentials, insecure registries, retries, timeouts.
    pub client: ClientOptions,
    /// Blobs (and child manifests) transferred at once.
    pub jobs: usize,
    /// Copy only these platforms of a multi-platform image (empty: all). The destination
    /// then gets a new, smaller index, so its digest differs from the source's.
    pub platforms: Vec<Platform>,
    pub upload: UploadMode,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            client: ClientOptions::default(),
            jobs: 4,
            platforms: Vec::new(),
            upload: UploadMode::default(),
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CopyReport {
    pub source: Reference,
    pub destination: Reference,
    pub source_digest: Digest,
    /// Equal to `source_digest` unless platforms were filtered out of an index.
    pub destination_digest: Digest,
    pub media_type: String,
    /// The destination is a platform-filtered index, not the source's.
    pub platforms_filtered: bool,
    /// The destination already had the image: nothing was transferred.
    pub already_present: bool,
    pub manifests_pushed: usize,
    /// Child manifests the destination already had.
    pub manifests_present: usize,
    pub blobs_copied: usize,
    pub blobs_mounted: usize,
    pub blobs_skipped: usize,
    /// Blob bytes streamed from source to destination (retried transfers count again).
    pub bytes_copied: u64,
    /// Registry HTTP requests made, token requests included.
    pub requests: u64,
    pub seconds: f64,
}

impl CopyReport {
    fn already_present(
        source: &Reference,
        destination: &Reference,
        digest: Digest,
        media_type: String,
    ) -> Self {
        CopyReport {
            source: source.clone(),
            destination: destination
                .clone()
                .without_digest()
                .with_digest(digest.clone()),
            source_digest: digest.clone(),
            destination_digest: digest,
            media_type,
            platforms_filtered: false,
            already_present: true,
            manifests_pushed: 0,
            manifests_present: 0,
            blobs_copied: 0,
            blobs_mounted: 0,
            blobs_skipped: 0,
            bytes_copied: 0,
            requests: 0,
            seconds: 0.0,
        }
    }
}

/// Copies images between registries; one per process is enough (it shares connections and
/// tokens between copies, which may run concurrently).
#[derive(Clone)]
pub struct Copier {
    client: Client,
    jobs: usize,
    platforms: Vec<Platform>,
    upload: UploadMode,
    retry: RetryPolicy,
}

#[derive(Default)]
struct Counters {
    copied: AtomicUsize,
    mounted: AtomicUsize,
    skipped: AtomicUsize,
    bytes: AtomicU64,
}

impl Copier {
    pub fn new(options: CopyOptions) -> Result<Self, Error> {
        if options.jobs == 0 {
            return Err(Error::InvalidInput("jobs must be at least 1".into()));
        }
        let retry = options.client.retry.clone();
        Ok(Copier {
            client: Client::new(options.client)?,
            jobs: options.jobs,
            platforms: options.platforms,
            upload: options.upload,
            retry,
        })
    }

    /// The registry client, for other calls (e.g. checking that a backup exists).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The digest `reference` currently names, or `None` if it does not exist.
    pub async fn resolve(&self, reference: &Reference) -> Result<Option<Digest>, Error> {
        let repo = Repository::from(reference);
        let selector = reference.selector();
        match self.client.head_manifest(&repo, &selector).await? {
            None => Ok(None),
            Some(head) => match (head.digest, reference.digest()) {
                (Some(d), _) => Ok(Some(d)),
                (None, Some(pinned)) => Ok(Some(pinned.clone())),
                (None, None) => Ok(Some(
                    self.client.get_manifest(&repo, &selector).await?.digest,
                )),
            },
        }
    }

    /// Copies `source` to `destination`, all platforms (or the configured ones), keeping the
    /// digest. The destination tag is `destination`'s, else `source`'s; with neither (a
    /// digest-only source) the image is pushed by digest only. A destination digest, if
    /// given, must be the digest the copy produces. The tag is written last, after every blob
    /// and child manifest: a failed copy leaves no tag behind.
    pub async fn copy(
        &self,
        source: &Reference,
        destination: &Reference,
        progress: impl Progress + 'static,
    ) -> Result<CopyReport, Error> {
        let requests = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let progress: Arc<dyn Progress> = Arc::new(progress);
        let mut report = count_requests(
            requests.clone(),
            self.copy_counted(source, destination, progress),
        )
        .await?;
        report.requests = requests.load(Ordering::Relaxed);
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    async fn copy_counted(
        &self,
        source: &Reference,
        destination: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<CopyReport, Error> {
        let src = Repository::from(source);
        let dst = Repository::from(destination);
        let tag = destination.tag().or(source.tag()).map(str::to_owned);
        let tag = match (tag, source.digest()) {
            (None, None) => Some(crate::reference::DEFAULT_TAG.to_owned()),
            (tag, _) => tag,
        };
        let destination = match &tag {
            Some(t) => destination.clone().with_tag(t)?,
            None => destination.clone(),
        };
        let filtering = !self.platforms.is_empty();

        // Cheapest path first: when the destination already names the source digest, stop
        // after two HEADs (one when the source is pinned).
        if !filtering {
            let source_digest = match source.digest() {
                Some(d) => Some(d.clone()),
                None => self
                    .client
                    .head_manifest(&src, &source.selector())
                    .await?
                    .and_then(|h| h.digest),
            };
            if let Some(digest) = source_digest
                && let Some(present) = self.destination_has(&dst, tag.as_deref(), &digest).await?
            {
                check_pinned(&destination, &digest)?;
                progress.event(ProgressEvent::AlreadyPresent {
                    digest: digest.clone(),
                });
                return Ok(CopyReport::already_present(
                    source,
                    &destination,
                    digest,
                    present.media_type.unwrap_or_default(),
                ));
            }
        }

        let fetched = self.client.get_manifest(&src, &source.selector()).await?;
        let source_digest = fetched.digest.clone();
        let (root, platforms_filtered) = if filtering && media_type::is_index(&fetched.media_type) {
            let filtered = fetched
                .filter_index(&self.platforms)
                .map_err(|reason| Error::InvalidInput(format!("{source}: {reason}")))?;
            (filtered, true)
        } else {
            (fetched, false)
        };
        check_pinned(&destination, &root.digest)?;

        let counters = Arc::new(Counters::default());
        let mut manifests_pushed = 0;
        let mut manifests_present = 0;
        let already_there = self
            .client
            .head_manifest(&dst, &Selector::Digest(&root.digest))
            .await?
            .is_some();
        if !already_there {
            let plan = plan(&self.client, &src, &dst, &root, self.jobs).await?;
            progress.event(ProgressEvent::Planned {
                source_digest: source_digest.clone(),
                manifests: plan.manifests_to_push(),
                blobs: plan.blobs.len(),
                bytes: plan.blob_bytes(),
            });
            self.copy_blobs(&src, &dst, &plan, &counters, &progress)
                .await?;
            manifests_pushed = self.push_children(&dst, &plan, &progress).await?;
            manifests_present = plan.manifests_present;
        }
        // The tag (or, for digest-only sources, the digest) goes last.
        let target = tag.clone().unwrap_or_else(|| root.digest.to_string());
        self.client.put_manifest(&dst, &target, &root).await?;
        manifests_pushed += 1;
        progress.event(ProgressEvent::ManifestPushed {
            digest: root.digest.clone(),
            target,
        });

        Ok(CopyReport {
            source: source.clone(),
            destination: destination
                .without_digest()
                .with_digest(root.digest.clone()),
            source_digest,
            destination_digest: root.digest.clone(),
            media_type: root.media_type.clone(),
            platforms_filtered,
            already_present: false,
            manifests_pushed,
            manifests_present,
            blobs_copied: counters.copied.load(Ordering::Relaxed),
            blobs_mounted: counters.mounted.load(Ordering::Relaxed),
            blobs_skipped: counters.skipped.load(Ordering::Relaxed),
            bytes_copied: counters.bytes.load(Ordering::Relaxed),
            requests: 0,
            seconds: 0.0,
        })
    }

    /// The destination's manifest if its tag (or, without a tag, the digest) names `digest`.
    async fn destination_has(
        &self,
        dst: &Repository,
        tag: Option<&str>,
        digest: &Digest,
    ) -> Result<Option<ManifestHead>, Error> {
        let selector = match tag {
            Some(t) => Selector::Tag(t),
            None => Selector::Digest(digest),
        };
        let head = self.client.head_manifest(dst, &selector).await?;
        Ok(head.filter(|head| match &head.digest {
            Some(d) => d == digest,
            // Without the header only a HEAD by digest proves anything.
            None => tag.is_none(),
        }))
    }

    async fn copy_blobs(
        &self,
        src: &Repository,
        dst: &Repository,
        plan: &Plan,
        counters: &Arc<Counters>,
        progress: &Arc<dyn Progress>,
    ) -> Result<(), Error> {
        // Owned items: a closure over `&Descriptor` is higher-ranked, and rustc then cannot
        // prove the whole copy future Send (rust-lang/rust#102211).
        futures::stream::iter(plan.blobs.iter().cloned())
            .map(|blob| async move { self.copy_blob(src, dst, &blob, counters, progress).await })
            .buffer_unordered(self.jobs)
            .try_for_each(|()| async { Ok(()) })
            .await
    }

    /// One blob, retried from the start on transient failures.
    async fn copy_blob(
        &self,
        src: &Repository,
        dst: &Repository,
        blob: &Descriptor,
        counters: &Arc<Counters>,
        progress: &Arc<dyn Progress>,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .copy_blob_once(src, dst, blob, counters, progress)
                .await
            {
                Ok(outcome) => {
                    let counter = match outcome {
                        BlobOutcome::Copied => &counters.copied,
                        BlobOutcome::Mounted => &counters.mounted,
                        BlobOutcome::Skipped => &counters.skipped,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    progress.event(ProgressEvent::BlobFinished {
                        digest: blob.digest.clone(),
                        size: blob.size,
                        outcome,
                    });
                    return Ok(());
                }
                Err(error) => {
                    // A step that timed out already held the copy for a whole timeout.
                    let delay = (error.is_transient() && !error.is_timeout())
                        .then(|| self.retry.next_delay(attempt, started, None))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(error);
                    };
                    tracing::info!(digest = %blob.digest, %error, attempt, "retrying blob");
                    progress.event(ProgressEvent::BlobRetrying {
                        digest: blob.digest.clone(),
                        attempt,
                        error: error.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn copy_blob_once(
        &self,
        src: &Repository,
        dst: &Repository,
        blob: &Descriptor,
        counters: &Arc<Counters>,
        progress: &Arc<dyn Progress>,
    ) -> Result<BlobOutcome, Error> {
        if self.client.blob_exists(dst, &blob.digest).await?.is_some() {
            return Ok(BlobOutcome::Skipped);
        }
        let session = if src.registry == dst.registry && src.name != dst.name {
            match self.client.mount_blob(dst, &blob.digest, &src.name).await? {
                MountOutcome::Mounted => return Ok(BlobOutcome::Mounted),
                MountOutcome::Upload(session) => session,
            }
        } else {
            self.client.start_upload(dst).await?
        };
        progress.event(ProgressEvent::BlobStarted {
            digest: blob.digest.clone(),
            size: blob.size,
        });
        let body = match self.client.get_blob(src, &blob.digest).await {
            Ok(body) => body,
            Err(error) => {
                self.client.abort_upload(&session).await;
                return Err(error);
            }
        };
        let failure = Failure::default();
        let on_bytes = {
            let counters = counters.clone();
            let progress = progress.clone();
            Arc::new(move |n: u64| {
                counters.bytes.fetch_add(n, Ordering::Relaxed);
                progress.event(ProgressEvent::BlobBytes { bytes: n });
            })
        };
        let verified = Verified::new(
            body,
            format!("blob {} from {src}", blob.digest),
            blob.digest.clone(),
            blob.size,
            failure.clone(),
            on_bytes,
        );
        match self
            .client
            .upload(session, &blob.digest, blob.size, verified, self.upload)
            .await
        {
            Ok(()) => Ok(BlobOutcome::Copied),
            Err((error, session)) => {
                self.client.abort_upload(&session).await;
                // The source side's failure (corruption, broken connection) is the real cause.
                Err(failure.take().unwrap_or(error))
            }
        }
    }

    /// Pushes the plan's child manifests by digest, deepest first; returns how many.
    async fn push_children(
        &self,
        dst: &Repository,
        plan: &Plan,
        progress: &Arc<dyn Progress>,
    ) -> Result<usize, Error> {
        let mut pushed = 0;
        for level in &plan.children {
            // Owned items, as in `copy_blobs`.
            futures::stream::iter(level.iter().cloned())
                .map(|manifest: Manifest| async move {
                    let target = manifest.digest.to_string();
                    self.client.put_manifest(dst, &target, &manifest).await?;
                    progress.event(ProgressEvent::ManifestPushed {
                        digest: manifest.digest.clone(),
                        target,
                    });
                    Ok::<_, Error>(())
                })
                .buffer_unordered(self.jobs)
                .try_for_each(|()| async { Ok(()) })
                .await?;
            pushed += level.len();
        }
        Ok(pushed)
    }
}

/// A destination pinned to a digest must get exactly that digest.
fn check_pinned(destination: &Reference, digest: &Digest) -> Result<(), Error> {
    match destination.digest() {
        Some(pinned) if pinned != digest => Err(Error::InvalidInput(format!(
            "destination {destination} is pinned to {pinned}, but the copy would produce {digest}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// A copy can be spawned on a multi-threaded runtime (and so cancelled by dropping it).
    #[test]
    fn copy_future_is_send() {
        let copier = Copier::new(CopyOptions::default()).unwrap();
        let source: Reference = "127.0.0.1:1/a:1".parse().unwrap();
        let destination: Reference = "127.0.0.1:1/b:1".parse().unwrap();
        let copy = copier.copy(&source, &destination, crate::NoProgress);
        assert_send(&copy);
    }
}
