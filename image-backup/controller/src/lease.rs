//! Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
//! `renewTime` every few seconds; anyone may take the lease once `renewTime +
//! leaseDurationSeconds` has passed. Every write carries the resourceVersion it was decided
//! from, so two replicas never both win.
//!
//! kube 5 has no leader election of its own; this is the small part of client-go's we need
//! ([`Elector`], timed by [`LeaseTimings`]): a leader tries to renew every retry period, each try
//! bounded in time; when it has not renewed for the renew deadline (an API server outage, a
//! network partition) or finds another holder, [`Elector::hold`] returns and the caller stops
//! leading at once (see [`crate::run`]), before the lease can expire and anyone else start. A
//! process that lost the lease never writes it again, not even to release it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::time::Instant;

use crate::config::LeaseTimings;
use crate::context::is_conflict;
use crate::health::Heartbeat;

/// What to do with the lease as we see it.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds it for this much longer.
    Wait(Duration),
}

pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    match spec.holder_identity.as_deref() {
        None | Some("") => return Decision::Acquire,
        Some(holder) if holder == me => return Decision::Renew,
        Some(_) => {}
    }
    let (Some(renewed), Some(seconds)) = (spec.renew_time.as_ref(), spec.lease_duration_seconds)
    else {
        return Decision::Acquire;
    };
    let expires = renewed.0.as_millisecond() + i64::from(seconds) * 1000;
    let left = expires - now.as_millisecond();
    if left > 0 {
        Decision::Wait(Duration::from_millis(left as u64))
    } else {
        Decision::Acquire
    }
}

pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaseLock {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    /// One round: true when we hold the lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let mut lease = Lease {
                spec: Some(self.spec(None, now)),
                ..Default::default()
            };
            lease.metadata.name = Some(self.name.clone());
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        match decide(lease.spec.as_ref(), &self.identity, now) {
            Decision::Wait(_) => Ok(false),
            decision => {
                let previous = lease.spec.take();
                let mut spec = self.spec(previous.as_ref(), now);
                if decision == Decision::Renew
                    && let Some(previous) = previous
                {
                    spec.acquire_time = previous.acquire_time;
                    spec.lease_transitions = previous.lease_transitions;
                }
                lease.spec = Some(spec);
                // `replace` sends our resourceVersion: a concurrent writer makes this a 409.
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Gives the lease up so a standby takes over at once instead of after expiry.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if previous.is_some() {
                transitions + 1
            } else {
                0
            }),
            ..Default::default()
        }
    }
}

/// Why a leader stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseLost {
    #[error("could not renew it for {0:?}")]
    NotRenewed(Duration),
    #[error("another replica holds it")]
    TakenOver,
}

/// client-go's elector loop over a [`LeaseLock`]: [`Elector::acquire`] until we lead, then
/// [`Elector::hold`] until we do not. Every try is bounded in time, so an API server that stops
/// answering cannot hold a try (and the step-down) past the renew deadline.
pub struct Elector {
    lock: LeaseLock,
    timings: LeaseTimings,
    heartbeat: Arc<Heartbeat>,
}

impl Elector {
    /// `heartbeat` beats after every try; see [`crate::health`].
    pub fn new(lock: LeaseLock, timings: LeaseTimings, heartbeat: Arc<Heartbeat>) -> Self {
        Self {
            lock,
            timings,
            heartbeat,
        }
    }

    /// Tries every retry period until we hold the lease.
    pub async fn acquire(&self) -> Instant {
        loop {
            let started = Instant::now();
            let result = self.try_once(self.try_limit()).await;
            self.heartbeat.beat();
            match result {
                Ok(true) => {
                    tracing::info!(identity = %self.lock.identity, lease = %self.lock.name, "became leader");
                    return started;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, lease = %self.lock.name, "could not acquire the lease")
                }
            }
            tokio::time::sleep(self.timings.retry_period()).await;
        }
    }

    /// Renews every retry period from `acquired` (when the winning try started) on; returns
    /// when the lease is lost: taken over, or not renewed within the renew deadline, which
    /// comes before the lease can expire for anyone else.
    pub async fn hold(&self, acquired: Instant) -> LeaseLost {
        let deadline = self.timings.renew_deadline();
        let mut renewed = acquired;
        loop {
            tokio::time::sleep(self.timings.retry_period()).await;
            let started = Instant::now();
            // One hung request must leave time for another try before the deadline.
            let left = deadline.saturating_sub(renewed.elapsed());
            let result = self.try_once(left.min(self.try_limit())).await;
            self.heartbeat.beat();
            match result {
                Ok(true) => renewed = started,
                Ok(false) => return LeaseLost::TakenOver,
                Err(error) => {
                    tracing::warn!(%error, lease = %self.lock.name, "lease renewal failed")
                }
            }
            if renewed.elapsed() >= deadline {
                return LeaseLost::NotRenewed(deadline);
            }
        }
    }

    /// Gives the lease up, if we still hold it, within one renew deadline.
    pub async fn release(&self) {
        let result = tokio::time::timeout(self.timings.renew_deadline(), self.lock.release()).await;
        match result {
            Ok(Ok(())) => tracing::info!(lease = %self.lock.name, "released the lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the lease"),
            Err(_) => tracing::warn!("could not release the lease: the API server did not answer"),
        }
    }

    /// The longest one try may take: half the renew deadline (at least a retry period).
    fn try_limit(&self) -> Duration {
        (self.timings.renew_deadline() / 2).max(self.timings.retry_period())
    }

    async fn try_once(&self, limit: Duration) -> Result<bool, String> {
        match tokio::time::timeout(limit, self.lock.try_acquire_or_renew()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer from the API server within {limit:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn held(by: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            ..Default::default()
        }
    }

    #[test]
    fn decision_table() {
        let cases = [
            ("no lease", None, Decision::Acquire),
            ("released", Some(LeaseSpec::default()), Decision::Acquire),
            ("mine", Some(held("me", -100)), Decision::Renew),
            (
                "theirs, fresh",
                Some(held("other", -5)),
                Decision::Wait(Duration::from_secs(10)),
            ),
            (
                "theirs, expired",
                Some(held("other", -15)),
                Decision::Acquire,
            ),
        ];
        for (what, spec, want) in cases {
            assert_eq!(decide(spec.as_ref(), "me", at(0)), want, "{what}");
        }
    }

    #[tokio::test]
    async fn acquires_a_missing_lease_and_loses_races() {
        use crate::fixtures::fixture;
        use http::Method;
        let mut f = fixture(crate::fixtures::settings());
        let lock = LeaseLock::new(
            f.ctx.client.clone(),
            "image-backup",
            "image-backup-controller",
            "me",
            Duration::from_secs(15),
        );
        let path = "/apis/coordination.k8s.io/v1/namespaces/image-backup/leases";
        let task = tokio::spawn(async move { (lock.try_acquire_or_renew().await.unwrap(), lock) });
        f.server
            .expect(Method::GET, &format!("{path}/image-backup-controller"))
            .await
            .fail(404, "NotFound");
        let create = f.server.expect(Method::POST, path).await;
        assert_eq!(create.body["spec"]["holderIdentity"], "me");
        assert_eq!(create.body["spec"]["leaseDurationSeconds"], 15);
        let body = create.body.clone();
        create.respond(201, &body);
        let (won, lock) = task.await.unwrap();
        assert!(won);

        // Someone else holds a fresh lease: we wait, and write nothing.
        let mut theirs = Lease {
            spec: Some(held("other", 0)),
            ..Default::default()
        };
        theirs.spec.as_mut().unwrap().renew_time = Some(MicroTime(Timestamp::now()));
        theirs.metadata.name = Some("image-backup-controller".into());
        theirs.metadata.resource_version = Some("5".into());
        let task = tokio::spawn(async move { lock.try_acquire_or_renew().await.unwrap() });
        f.server
            .expect(Method::GET, &format!("{path}/image-backup-controller"))
            .await
            .ok(&serde_json::to_value(&theirs).unwrap());
        assert!(!task.await.unwrap());
        f.server.assert_idle();
    }
}
