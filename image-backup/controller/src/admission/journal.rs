//! What admission did lately, for the gRPC `ListAdmissions`: a bounded ring of recent
//! decisions about images that have a Done backup, and totals since the replica started.
//! Each replica keeps its own (the API server spreads admissions over the replicas).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::jiff::Timestamp;

use super::decision::Mode;

/// Decisions kept per replica.
pub const CAPACITY: usize = 256;

/// One decision about one image of one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub time: Timestamp,
    pub namespace: String,
    /// The pod's name, or its `generateName` prefix when it has no name yet.
    pub pod: String,
    pub container: String,
    pub original: String,
    /// What the pod was admitted with.
    pub image: String,
    /// `always`, `unavailable: <cause>` or `available`.
    pub reason: String,
    pub rewritten: bool,
}

pub struct Journal {
    mode: Mode,
    recent: Mutex<VecDeque<Entry>>,
    pods_admitted: AtomicU64,
    images_rewritten: AtomicU64,
}

impl Journal {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            recent: Mutex::new(VecDeque::with_capacity(CAPACITY)),
            pods_admitted: AtomicU64::new(0),
            images_rewritten: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Records one pod the webhook looked into (skipped ones, e.g. in kube-system, are not
    /// counted) and its decisions worth showing.
    pub fn admitted(&self, entries: Vec<Entry>) {
        self.pods_admitted.fetch_add(1, Ordering::Relaxed);
        let rewritten = entries.iter().filter(|e| e.rewritten).count() as u64;
        self.images_rewritten
            .fetch_add(rewritten, Ordering::Relaxed);
        if entries.is_empty() {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries {
            if recent.len() == CAPACITY {
                recent.pop_front();
            }
            recent.push_back(entry);
        }
    }

    /// At most `limit` decisions (all kept when 0), newest first.
    pub fn recent(&self, limit: usize) -> Vec<Entry> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let limit = if limit == 0 { CAPACITY } else { limit };
        recent.iter().rev().take(limit).cloned().collect()
    }

    /// `(pods admitted, images rewritten)` since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.pods_admitted.load(Ordering::Relaxed),
            self.images_rewritten.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, rewritten: bool) -> Entry {
        Entry {
            time: Timestamp::UNIX_EPOCH,
            namespace: "apps".into(),
            pod: format!("p{i}"),
            container: "c".into(),
            original: "nginx".into(),
            image: "b@sha256:1".into(),
            reason: "always".into(),
            rewritten,
        }
    }

    #[test]
    fn keeps_the_newest_decisions_and_counts_everything() {
        let journal = Journal::new(Mode::Always);
        for i in 0..CAPACITY + 10 {
            journal.admitted(vec![entry(i, i % 2 == 0)]);
        }
        journal.admitted(vec![]);
        let recent = journal.recent(0);
        assert_eq!(recent.len(), CAPACITY);
        assert_eq!(recent[0].pod, format!("p{}", CAPACITY + 9));
        assert_eq!(recent[CAPACITY - 1].pod, "p10");
        assert_eq!(journal.recent(3).len(), 3);
        assert_eq!(
            journal.totals(),
            (CAPACITY as u64 + 11, (CAPACITY as u64 + 10) / 2)
        );
        assert_eq!(journal.mode().as_str(), "always");
    }
}
