//! Which workloads use which backup. The workload reconciler records it; it lets a backup that
//! becomes `Done` wake exactly the workloads waiting for it (rollout), and lets events about a
//! backup be posted on those workloads too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// A workload, by kind and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

#[derive(Default)]
pub struct Users {
    inner: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    by_backup: HashMap<String, BTreeSet<WorkloadKey>>,
    by_workload: HashMap<WorkloadKey, Vec<String>>,
}

impl Users {
    /// Records that `workload` now uses exactly `backups` (object names).
    pub fn set(&self, workload: WorkloadKey, backups: Vec<String>) {
        let mut index = self.lock();
        if index.by_workload.get(&workload) == Some(&backups) {
            return;
        }
        index.remove(&workload);
        for backup in &backups {
            index
                .by_backup
                .entry(backup.clone())
                .or_default()
                .insert(workload.clone());
        }
        if !backups.is_empty() {
            index.by_workload.insert(workload, backups);
        }
    }

    pub fn forget(&self, workload: &WorkloadKey) {
        self.lock().remove(workload);
    }

    /// Workloads of kind `kind` that use `backup`.
    pub fn of(&self, backup: &str, kind: &str) -> Vec<WorkloadKey> {
        let index = self.lock();
        index
            .by_backup
            .get(backup)
            .map(|users| users.iter().filter(|w| w.kind == kind).cloned().collect())
            .unwrap_or_default()
    }

    /// Up to `limit` workloads of any kind that use `backup`.
    pub fn any_of(&self, backup: &str, limit: usize) -> Vec<WorkloadKey> {
        let index = self.lock();
        index
            .by_backup
            .get(backup)
            .map(|users| users.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Index {
    fn remove(&mut self, workload: &WorkloadKey) {
        for backup in self.by_workload.remove(workload).unwrap_or_default() {
            if let Some(users) = self.by_backup.get_mut(&backup) {
                users.remove(workload);
                if users.is_empty() {
                    self.by_backup.remove(&backup);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &'static str, name: &str) -> WorkloadKey {
        WorkloadKey {
            kind,
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn tracks_users_across_changes() {
        let users = Users::default();
        users.set(key("Deployment", "a"), vec!["nginx".into(), "redis".into()]);
        users.set(key("DaemonSet", "b"), vec!["nginx".into()]);
        assert_eq!(users.of("nginx", "Deployment"), [key("Deployment", "a")]);
        assert_eq!(users.any_of("nginx", 10).len(), 2);
        users.set(key("Deployment", "a"), vec!["redis".into()]);
        assert!(users.of("nginx", "Deployment").is_empty());
        users.forget(&key("Deployment", "a"));
        assert!(users.any_of("redis", 10).is_empty());
        assert_eq!(users.any_of("nginx", 10), [key("DaemonSet", "b")]);
    }
}
