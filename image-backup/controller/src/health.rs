//! Liveness: what `/healthz` answers. It fails when a loop that should be making progress has
//! not, for longer than its own deadline, so that a Kubernetes liveness probe or a Pebble check
//! restarts a wedged process.
//!
//! "Progress" is defined per loop so that it never blames a healthy process:
//! - the elector ([`Heartbeat::periodic`]) tries to acquire or renew the lease every retry
//!   period, each try bounded in time; it beats after every try, failed or not (a failing try
//!   during an API server outage is the elector doing its job). Silent for longer than its
//!   deadline means its task is stuck or gone.
//! - a reconciler ([`Heartbeat::on_demand`]) beats when a reconcile starts or ends, and the
//!   backup reconciler also when a copy moves bytes. Idle with nothing to reconcile is healthy;
//!   only a reconciler with work in flight and no beat for longer than its deadline (every
//!   network step it takes is bounded well below it) is wedged.
//!
//! Watches are not heartbeats: an idle watch is silent, and one that retries with backoff after
//! an outage has nothing to prove; kube-runtime's watcher never ends on an error and drops a
//! silent connection after its timeout, which the tests check instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Whether silence is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    /// Beats on its own schedule: silence is a fault.
    Periodic,
    /// Works when there is work: silence is a fault only while busy.
    OnDemand,
}

/// The last sign of life of one loop.
#[derive(Debug)]
pub struct Heartbeat {
    name: String,
    deadline: Duration,
    schedule: Schedule,
    last: Mutex<Instant>,
    busy: AtomicUsize,
}

impl Heartbeat {
    /// A loop that must beat at least every `deadline`.
    pub fn periodic(name: impl Into<String>, deadline: Duration) -> Arc<Self> {
        Self::new(name.into(), deadline, Schedule::Periodic)
    }

    /// A loop that must beat at least every `deadline` while it has work in flight.
    pub fn on_demand(name: impl Into<String>, deadline: Duration) -> Arc<Self> {
        Self::new(name.into(), deadline, Schedule::OnDemand)
    }

    fn new(name: String, deadline: Duration, schedule: Schedule) -> Arc<Self> {
        Arc::new(Self {
            name,
            deadline,
            schedule,
            last: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
        })
    }

    pub fn beat(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Marks one unit of work in flight until the guard drops; both ends count as a beat.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.beat();
        Busy(self.clone())
    }

    /// How long past its deadline the loop has been silent, if it is.
    fn overdue(&self, now: Instant) -> Option<Duration> {
        if self.schedule == Schedule::OnDemand && self.busy.load(Ordering::Acquire) == 0 {
            return None;
        }
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        let silent = now.saturating_duration_since(last);
        (silent > self.deadline).then_some(silent)
    }
}

/// Work in flight on a [`Heartbeat`].
#[derive(Debug)]
pub struct Busy(Arc<Heartbeat>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.beat();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The loops `/healthz` looks at. Cheap to clone; clones share the set.
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    loops: Arc<Mutex<Vec<Arc<Heartbeat>>>>,
}

impl Liveness {
    /// Adds a loop and returns it.
    pub fn watch(&self, heartbeat: Arc<Heartbeat>) -> Arc<Heartbeat> {
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(heartbeat.clone());
        heartbeat
    }

    /// `Err` names every wedged loop, how long it has been silent and its deadline.
    pub fn check(&self) -> Result<(), String> {
        let now = Instant::now();
        let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        let wedged: Vec<String> = loops
            .iter()
            .filter_map(|h| {
                h.overdue(now).map(|silent| {
                    format!(
                        "{} made no progress for {}s (deadline {}s)",
                        h.name,
                        silent.as_secs(),
                        h.deadline.as_secs()
                    )
                })
            })
            .collect();
        if wedged.is_empty() {
            Ok(())
        } else {
            Err(wedged.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_periodic_loop_must_keep_beating() {
        let liveness = Liveness::default();
        let elector = liveness.watch(Heartbeat::periodic("leader election", DEADLINE));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(liveness.check(), Ok(()));
        elector.beat();
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(liveness.check(), Ok(()));
        tokio::time::advance(Duration::from_secs(2)).await;
        let err = liveness.check().unwrap_err();
        assert!(
            err.contains("leader election made no progress for 31s (deadline 30s)"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_reconciler_is_healthy_a_stuck_one_is_not() {
        let liveness = Liveness::default();
        let backups = liveness.watch(Heartbeat::on_demand("ImageBackup reconciler", DEADLINE));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(liveness.check(), Ok(()), "idle for an hour is fine");

        let first = backups.busy();
        tokio::time::advance(Duration::from_secs(20)).await;
        backups.beat(); // bytes moved
        let second = backups.busy();
        drop(second);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(liveness.check(), Ok(()));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            liveness
                .check()
                .unwrap_err()
                .contains("ImageBackup reconciler")
        );
        drop(first);
        assert_eq!(liveness.check(), Ok(()), "finishing is progress");
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(liveness.check(), Ok(()));
    }
}
