//! Prometheus metrics. Counters and the histogram are updated as things happen; the gauge of
//! backups by phase is recomputed from the `ImageBackup` cache at every scrape, so it can never
//! drift from what the cluster holds.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::{ImageBackup, Phase};

type Labels = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    backups: Family<Labels, Gauge>,
    bytes_copied: Counter,
    copy_duration: Histogram,
    copies: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    rollouts: Counter,
    // Admission webhook.
    admissions: Family<Labels, Counter>,
    admission_rewrites: Family<Labels, Counter>,
    admission_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("image_backup");
        let backups = Family::<Labels, Gauge>::default();
        let bytes_copied = Counter::default();
        // 0.5 s to about 17 minutes.
        let copy_duration = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        let copies = Family::<Labels, Counter>::default();
        let reconcile_errors = Family::<Labels, Counter>::default();
        let rollouts = Counter::default();
        registry.register("backups", "ImageBackup objects by phase", backups.clone());
        registry.register(
            "bytes_copied",
            "Bytes copied to the backup registry",
            bytes_copied.clone(),
        );
        registry.register(
            "copy_duration_seconds",
            "Duration of image copies",
            copy_duration.clone(),
        );
        registry.register("copies", "Finished copies by result", copies.clone());
        registry.register(
            "reconcile_errors",
            "Reconcile errors by kind",
            reconcile_errors.clone(),
        );
        registry.register(
            "rollouts",
            "Workloads switched to (or back from) backup images",
            rollouts.clone(),
        );
        // Admission webhook: pods by outcome, rewritten images by reason, latency 1 ms to 4 s.
        let admissions = Family::<Labels, Counter>::default();
        let admission_rewrites = Family::<Labels, Counter>::default();
        let admission_duration = Histogram::new(exponential_buckets(0.001, 2.0, 13));
        registry.register(
            "admissions",
            "Pods admitted by the webhook, by outcome",
            admissions.clone(),
        );
        registry.register(
            "admission_rewrites",
            "Pod images rewritten to their backups, by reason",
            admission_rewrites.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            admission_duration.clone(),
        );
        Self {
            registry,
            backups,
            bytes_copied,
            copy_duration,
            copies,
            reconcile_errors,
            rollouts,
            admissions,
            admission_rewrites,
            admission_duration,
        }
    }
}

impl Metrics {
    pub fn copy_finished(&self, ok: bool, bytes: u64, seconds: f64) {
        self.bytes_copied.inc_by(bytes);
        self.copy_duration.observe(seconds);
        let result = if ok { "success" } else { "failure" };
        self.copies.get_or_create(&[("result", result)]).inc();
    }

    pub fn reconcile_error(&self, kind: &'static str) {
        self.reconcile_errors.get_or_create(&[("kind", kind)]).inc();
    }

    pub fn rollout(&self) {
        self.rollouts.inc();
    }

    /// One admission review answered, with its outcome.
    pub fn admission(&self, outcome: &'static str, seconds: f64) {
        self.admissions.get_or_create(&[("outcome", outcome)]).inc();
        self.admission_duration.observe(seconds);
    }

    /// One pod image rewritten to its backup.
    pub fn admission_rewrite(&self, reason: &'static str) {
        self.admission_rewrites
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    /// The text exposition, with the phase gauge recomputed from `backups`.
    pub fn render<'a>(&self, backups: impl IntoIterator<Item = &'a ImageBackup>) -> String {
        let mut counts = [0i64; Phase::ALL.len()];
        for b in backups {
            counts[b.phase() as usize] += 1;
        }
        for phase in Phase::ALL {
            self.backups
                .get_or_create(&[("phase", phase.as_str())])
                .set(counts[phase as usize]);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ImageBackupSpec, ImageBackupStatus};

    #[test]
    fn renders_phases_and_counters() {
        let metrics = Metrics::default();
        metrics.copy_finished(true, 1234, 1.5);
        metrics.reconcile_error("kube");
        metrics.admission("rewritten", 0.002);
        metrics.admission_rewrite("timeout");
        let mut done = ImageBackup::new(
            "a",
            ImageBackupSpec {
                image: "x".into(),
                pull_secrets: vec![],
            },
        );
        done.status = Some(ImageBackupStatus {
            phase: Phase::Done,
            ..Default::default()
        });
        let fresh = ImageBackup::new(
            "b",
            ImageBackupSpec {
                image: "y".into(),
                pull_secrets: vec![],
            },
        );
        let text = metrics.render([&done, &done.clone(), &fresh]);
        for line in [
            r#"image_backup_backups{phase="Done"} 2"#,
            r#"image_backup_backups{phase="Pending"} 1"#,
            r#"image_backup_backups{phase="Failed"} 0"#,
            "image_backup_bytes_copied_total 1234",
            r#"image_backup_reconcile_errors_total{kind="kube"} 1"#,
            "image_backup_copy_duration_seconds_count 1",
            r#"image_backup_admissions_total{outcome="rewritten"} 1"#,
            r#"image_backup_admission_rewrites_total{reason="timeout"} 1"#,
            "image_backup_admission_duration_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
