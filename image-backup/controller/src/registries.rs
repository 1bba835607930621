//! Registries that failed recently, and when to try them again: one hung or overloaded
//! registry must not take every reconcile slot from the registries that answer.
//!
//! A copy that fails because a registry is unavailable (refused, timed out, 429, 5xx; see
//! [`crate::copier::CopyError::unavailable`]) puts that registry on hold, doubling from
//! [`RegistryHolds::FIRST`] to [`RegistryHolds::MAX`]; a copy from or to a registry on hold is
//! not started (its backup is requeued for when the hold ends, no attempt counted), so it holds
//! no slot meanwhile. A copy that succeeds lifts the holds of both its registries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RegistryHolds {
    holds: Mutex<HashMap<String, Hold>>,
}

#[derive(Debug)]
struct Hold {
    failures: u32,
    until: Instant,
}

impl RegistryHolds {
    pub const FIRST: Duration = Duration::from_secs(5);
    pub const MAX: Duration = Duration::from_secs(300);

    /// Records a failure of `registry`; returns how long it is on hold.
    pub fn failed(&self, registry: &str) -> Duration {
        let mut holds = self.lock();
        let hold = holds.entry(registry.to_string()).or_insert(Hold {
            failures: 0,
            until: Instant::now(),
        });
        hold.failures = hold.failures.saturating_add(1);
        let wait = Self::FIRST
            .saturating_mul(2u32.saturating_pow(hold.failures - 1))
            .min(Self::MAX);
        hold.until = Instant::now() + wait;
        wait
    }

    pub fn succeeded(&self, registry: &str) {
        self.lock().remove(registry);
    }

    /// How long until every one of `registries` may be tried, if any is on hold; with the
    /// registry that holds it up longest.
    pub fn wait(&self, registries: &[&str]) -> Option<(String, Duration)> {
        let now = Instant::now();
        let holds = self.lock();
        registries
            .iter()
            .filter_map(|r| {
                let left = holds.get(*r)?.until.saturating_duration_since(now);
                (!left.is_zero()).then(|| (r.to_string(), left))
            })
            .max_by_key(|(_, left)| *left)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Hold>> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_double_per_registry_and_lift_on_success() {
        let holds = RegistryHolds::default();
        assert_eq!(holds.wait(&["hung.example", "ok.example"]), None);
        assert_eq!(holds.failed("hung.example"), Duration::from_secs(5));
        assert_eq!(holds.failed("hung.example"), Duration::from_secs(10));
        let (who, left) = holds.wait(&["ok.example", "hung.example"]).unwrap();
        assert_eq!(
            (who.as_str(), left),
            ("hung.example", Duration::from_secs(10))
        );
        assert_eq!(holds.wait(&["ok.example"]), None, "others are not held up");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(holds.wait(&["hung.example"]), None, "the hold ends");
        for _ in 0..20 {
            holds.failed("hung.example");
        }
        assert_eq!(holds.wait(&["hung.example"]).unwrap().1, RegistryHolds::MAX);
        holds.succeeded("hung.example");
        assert_eq!(holds.wait(&["hung.example"]), None);
    }
}
