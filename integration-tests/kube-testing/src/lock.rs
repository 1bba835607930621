//! A lock the cluster tests take before they touch cluster-wide singletons (the `cloudcasa-io`
//! namespace and binding, the `imagebackups.k8slab.io` CRD, the image-backup RBAC).
//!
//! `cargo test --workspace` runs test binaries one after the other, but tests of one binary
//! run in parallel, two people may point two runs at one cluster, and a run may be killed
//! half-way. So the lock lives in the cluster: a coordination.k8s.io/v1 Lease
//! `kube-testing-<name>` in namespace `default` (which every API server creates itself), held
//! the way client-go's leader election holds one. The holder renews `renewTime` every
//! [`RENEW_EVERY`]; a lease not renewed for [`DURATION`] is free, so the lease of a killed run
//! expires by itself. Every write carries the resourceVersion it was decided from: two takers
//! never both win. Releasing deletes the lease (on condition of that resourceVersion), so a
//! finished run leaves nothing behind.
//!
//! The guard renews from a thread of its own with its own runtime and client: the tests that
//! hold it are synchronous (hooks run as processes) or async, and either way the lease stays
//! fresh while they work.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ObjectMeta, PostParams, Preconditions};
use kube::{Api, Client, Config};

use crate::labels;

/// Where the leases live: a namespace every API server creates by itself.
pub const NAMESPACE: &str = "default";
/// How long a lease nobody renews stays held.
pub const DURATION: Duration = Duration::from_secs(30);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long a test waits for another to finish: longer than any cluster test takes.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Taking the lock failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "lock {lease} is still held by {holder} (renewed {renewed}) after waiting {}s; \
         if no test runs any more, it expires {}s after its last renewal",
        waited.as_secs(), DURATION.as_secs()
    )]
    Busy {
        lease: String,
        holder: String,
        renewed: String,
        waited: Duration,
    },
    #[error("lock {lease}: {source}")]
    Api {
        lease: String,
        #[source]
        source: kube::Error,
    },
    #[error("lock {lease}: {message}")]
    Thread { lease: String, message: String },
}

/// A held lock; dropping it releases the lease.
pub struct ClusterLock {
    lease: String,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

impl ClusterLock {
    /// Takes the lock `name` for `test`, waiting (at most [`WAIT_LIMIT`]) while another test
    /// holds it.
    pub async fn acquire(config: &Config, name: &str, test: &str) -> Result<Self, LockError> {
        let lease = format!("kube-testing-{name}");
        let holder = holder_identity(test);
        let (taken_tx, taken_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        let config = config.clone();
        let thread_lease = lease.clone();
        let label = test_label(name);
        let renewer = std::thread::Builder::new()
            .name(format!("lock {lease}"))
            .spawn(move || hold(config, thread_lease, holder, label, taken_tx, stop_rx))
            .map_err(|e| LockError::Thread {
                lease: lease.clone(),
                message: format!("cannot start the renewing thread: {e}"),
            })?;
        let taken = taken_rx.await.unwrap_or_else(|_| {
            Err(LockError::Thread {
                lease: lease.clone(),
                message: "the renewing thread ended without an answer".into(),
            })
        });
        let guard = ClusterLock {
            lease,
            stop: Some(stop_tx),
            renewer: Some(renewer),
        };
        taken.map(|()| guard)
    }

    /// The Lease's name.
    pub fn lease(&self) -> &str {
        &self.lease
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread, which releases the lease and ends.
        self.stop.take();
        if let Some(thread) = self.renewer.take() {
            let _ = thread.join();
        }
    }
}

fn test_label(name: &str) -> String {
    format!("lock-{name}")
}

/// `<host>/<pid>/<test>`: says who to look for when a lock stays held.
fn holder_identity(test: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{}/{test}", std::process::id())
}

/// The renewing thread: takes the lease, reports, renews until told to stop, releases.
fn hold(
    config: Config,
    lease: String,
    holder: String,
    label: String,
    taken: tokio::sync::oneshot::Sender<Result<(), LockError>>,
    stop: mpsc::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = taken.send(Err(LockError::Thread {
                lease,
                message: format!("cannot start a runtime: {e}"),
            }));
            return;
        }
    };
    let leases = match runtime.block_on(async { Client::try_from(config) }) {
        Ok(client) => Leases::new(client, &lease, &holder, &label),
        Err(source) => {
            let _ = taken.send(Err(LockError::Api { lease, source }));
            return;
        }
    };
    let result = runtime.block_on(leases.take_waiting(WAIT_LIMIT));
    let held = result.is_ok();
    if taken.send(result).is_err() || !held {
        if held {
            let _ = runtime.block_on(leases.release());
        }
        return;
    }
    // Renew until the guard is dropped (the sender goes away).
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(RENEW_EVERY) {
        if let Err(e) = runtime.block_on(leases.renew(Timestamp::now())) {
            crate::report::say(&holder, &format!("lock {lease}: renewing failed: {e}"));
        }
    }
    let released = runtime.block_on(tokio::time::timeout(
        Duration::from_secs(20),
        leases.release(),
    ));
    let failure = match released {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 20s".to_owned(),
    };
    crate::report::say(
        &holder,
        &format!("lock {lease}: releasing failed ({failure}); it expires by itself"),
    );
}

/// One attempt's outcome.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    Taken,
    /// Another writer won a race: look again at once.
    Contended,
    Held {
        holder: String,
        renewed: String,
    },
}

/// The lease operations, over any client (a mock one in the unit tests).
pub(crate) struct Leases {
    api: Api<Lease>,
    name: String,
    holder: String,
    label: String,
}

impl Leases {
    pub(crate) fn new(client: Client, name: &str, holder: &str, label: &str) -> Self {
        Leases {
            api: Api::namespaced(client, NAMESPACE),
            name: name.to_owned(),
            holder: holder.to_owned(),
            label: label.to_owned(),
        }
    }

    fn error(&self, source: kube::Error) -> LockError {
        LockError::Api {
            lease: self.name.clone(),
            source,
        }
    }

    async fn take_waiting(&self, limit: Duration) -> Result<(), LockError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut told = false;
        loop {
            match self
                .try_take(Timestamp::now())
                .await
                .map_err(|e| self.error(e))?
            {
                Attempt::Taken => return Ok(()),
                Attempt::Contended => continue,
                Attempt::Held { holder, renewed } => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(LockError::Busy {
                            lease: self.name.clone(),
                            holder,
                            renewed,
                            waited: limit,
                        });
                    }
                    if !told {
                        crate::report::say(
                            &self.holder,
                            &format!("waiting for lock {} held by {holder}", self.name),
                        );
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Takes the lease if it is absent, free, expired or already ours.
    pub(crate) async fn try_take(&self, now: Timestamp) -> Result<Attempt, kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = self.lease(ObjectMeta::default(), now, 0);
            return conflict_is_contention(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if !holder.is_empty() && holder != self.holder && !expired(&spec, now) {
            let renewed = spec
                .renew_time
                .or(spec.acquire_time)
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "never".into());
            return Ok(Attempt::Held { holder, renewed });
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(holder != self.holder);
        let lease = self.lease(current.metadata, now, transitions);
        conflict_is_contention(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
    }

    /// Moves `renewTime` on, if the lease is still ours.
    pub(crate) async fn renew(&self, now: Timestamp) -> Result<bool, kube::Error> {
        let Some(mut current) = self.api.get_opt(&self.name).await? else {
            return Ok(false);
        };
        let spec = current.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.holder.as_str()) {
            return Ok(false);
        }
        spec.renew_time = Some(MicroTime(now));
        self.api
            .replace(&self.name, &PostParams::default(), &current)
            .await?;
        Ok(true)
    }

    /// Deletes the lease if it is still ours, on condition that nobody wrote it since.
    pub(crate) async fn release(&self) -> Result<(), kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let ours = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.holder.as_str());
        if !ours {
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: current.metadata.resource_version.clone(),
                uid: current.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.name, &params).await {
            Ok(_) => Ok(()),
            // Gone, or taken over after expiring: not ours to delete any more.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The lease held by us from `now`, keeping `metadata` (its resourceVersion).
    fn lease(&self, mut metadata: ObjectMeta, now: Timestamp, transitions: i32) -> Lease {
        metadata.name = Some(self.name.clone());
        metadata.namespace = Some(NAMESPACE.into());
        metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(labels::labels(&self.label));
        Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.holder.clone()),
                lease_duration_seconds: Some(DURATION.as_secs() as i32),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

fn conflict_is_contention(result: Result<Lease, kube::Error>) -> Result<Attempt, kube::Error> {
    match result {
        Ok(_) => Ok(Attempt::Taken),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Contended),
        Err(e) => Err(e),
    }
}

/// Whether the holder stopped renewing more than the lease's duration ago.
fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let seconds = spec
        .lease_duration_seconds
        .unwrap_or(DURATION.as_secs() as i32);
    renewed.0 + SignedDuration::from_secs(i64::from(seconds)) < now
}

#[cfg(test)]
mod tests;
