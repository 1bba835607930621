//! A progress bar on a terminal; nothing otherwise (the summary line says it all).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image_backup_copier::{BlobOutcome, ProgressEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Reporter {
    bar: Option<ProgressBar>,
}

#[derive(Default)]
struct Counts {
    copied: AtomicUsize,
    mounted: AtomicUsize,
    skipped: AtomicUsize,
}

impl Reporter {
    /// A bar on stderr when it is a terminal and the output is not JSON.
    pub fn new(json: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_message("resolving");
            bar
        });
        Reporter { bar }
    }

    #[cfg(test)]
    fn with_bar(bar: ProgressBar) -> Self {
        Reporter { bar: Some(bar) }
    }

    /// The callback the copier reports to.
    pub fn sink(&self) -> impl Fn(ProgressEvent) + Send + Sync + 'static {
        let bar = self.bar.clone();
        let counts = Arc::new(Counts::default());
        move |event| {
            let Some(bar) = &bar else { return };
            match event {
                ProgressEvent::Planned { bytes, .. } => bar.set_length(bytes),
                ProgressEvent::BlobBytes { bytes } => bar.inc(bytes),
                ProgressEvent::BlobFinished { size, outcome, .. } => {
                    let counter = match outcome {
                        BlobOutcome::Copied => &counts.copied,
                        BlobOutcome::Mounted => {
                            bar.inc(size);
                            &counts.mounted
                        }
                        BlobOutcome::Skipped => {
                            bar.inc(size);
                            &counts.skipped
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    bar.set_message(format!(
                        "blobs: {} copied, {} mounted, {} skipped",
                        counts.copied.load(Ordering::Relaxed),
                        counts.mounted.load(Ordering::Relaxed),
                        counts.skipped.load(Ordering::Relaxed)
                    ));
                }
                ProgressEvent::BlobRetrying { error, .. } => {
                    bar.println(format!("retrying: {error}"));
                }
                ProgressEvent::AlreadyPresent { .. } => bar.set_message("already present"),
                ProgressEvent::ManifestPushed { .. } | ProgressEvent::BlobStarted { .. } => {}
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_backup_copier::Digest;

    #[test]
    fn bar_counts_streamed_and_skipped_bytes() {
        let bar = ProgressBar::hidden();
        let reporter = Reporter::with_bar(bar.clone());
        let sink = reporter.sink();
        let d = Digest::sha256(b"x");
        sink(ProgressEvent::Planned {
            source_digest: d.clone(),
            manifests: 1,
            blobs: 3,
            bytes: 600,
        });
        sink(ProgressEvent::BlobBytes { bytes: 100 });
        sink(ProgressEvent::BlobBytes { bytes: 100 });
        for outcome in [
            BlobOutcome::Copied,
            BlobOutcome::Skipped,
            BlobOutcome::Mounted,
        ] {
            sink(ProgressEvent::BlobFinished {
                digest: d.clone(),
                size: 200,
                outcome,
            });
        }
        assert_eq!(bar.length(), Some(600));
        assert_eq!(bar.position(), 600);
        assert_eq!(bar.message(), "blobs: 1 copied, 1 mounted, 1 skipped");
        reporter.finish();
        assert!(Reporter::new(true).bar.is_none());
    }
}
