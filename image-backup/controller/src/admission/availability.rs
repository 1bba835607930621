//! Is an original image available? One manifest HEAD against its registry, bounded and shared.
//!
//! A webhook that waits on registries must stay cheap when they misbehave, so a check:
//! - runs at most [`Limits::budget`] (the same budget an admission has): a registry that does
//!   not answer by then is [`Unavailable::TimedOut`];
//! - is shared: admissions that need the same image while it runs wait for that one check
//!   (each no longer than its own deadline), so a hung registry costs one budget, not one per
//!   pod;
//! - is cached per image, available and unavailable alike, for a short time (a pod admitted
//!   with an image that just went away stays broken until recreated, so the positive TTL is
//!   short too);
//! - runs in its own task: an admission that gives up (or whose connection drops) does not
//!   cancel it, and its outcome still lands in the cache;
//! - waits for one of [`Limits::concurrency`] permits, inside its budget.
//!
//! Credentials are the ones the backup was copied with ([`Context::credentials`]): the
//! credentials file, `--registry-secret`, then the pull secrets recorded on the `ImageBackup`.
//! So a private image the controller could back up is checked as itself; a 401/403 with those
//! counts as unavailable (a vendor closing its catalogue looks exactly like that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use image_backup_copier::registry::{Client, ClientOptions, Repository};
use image_backup_copier::{Error as CopierError, RetryPolicy};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::decision::{Availability, Unavailable};
use crate::context::Context;
use crate::copier::{DockerConfig, credential_store, credentials_key};
use crate::crd::SecretRef;
use crate::image::ImageRef;

/// What to check: an original image, and the pull secrets its backup recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub image: ImageRef,
    pub pull_secrets: Vec<SecretRef>,
}

/// One availability check, unbounded: [`Checker`] bounds, shares and caches it.
pub trait Probe: Send + Sync + 'static {
    fn probe(&self, target: Target) -> BoxFuture<'static, Availability>;
}

/// Bounds of the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for one check (and for one admission's checks together).
    pub budget: Duration,
    pub available_ttl: Duration,
    pub unavailable_ttl: Duration,
    /// Checks running at once.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Well under the webhook's 5 s timeout, leaving room for the API server's own
            // round trip and a slow TLS handshake.
            budget: Duration::from_secs(2),
            available_ttl: Duration::from_secs(10),
            unavailable_ttl: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

/// Cached entries beyond which expired ones are swept.
const SWEEP_ABOVE: usize = 4096;

type Pending = Shared<BoxFuture<'static, Availability>>;

enum Entry {
    Known {
        availability: Availability,
        until: Instant,
    },
    Checking(Pending),
}

/// Bounded, shared and cached availability checks.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

struct Inner {
    probe: Arc<dyn Probe>,
    limits: Limits,
    permits: Semaphore,
    cache: Mutex<HashMap<String, Entry>>,
}

impl Checker {
    pub fn new(probe: Arc<dyn Probe>, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                probe,
                permits: Semaphore::new(limits.concurrency.max(1)),
                limits,
                cache: Mutex::default(),
            }),
        }
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The availability of `target.image`, from the cache, a check under way, or a new
    /// check; [`Unavailable::TimedOut`] if none has an answer by `deadline`.
    pub async fn check(&self, target: Target, deadline: Instant) -> Availability {
        let key = target.image.to_string();
        let pending = {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(Entry::Known {
                    availability,
                    until,
                }) if *until > Instant::now() => return *availability,
                Some(Entry::Checking(pending)) => pending.clone(),
                _ => {
                    let pending = self.start(key.clone(), target);
                    cache.insert(key, Entry::Checking(pending.clone()));
                    pending
                }
            }
        };
        tokio::time::timeout_at(deadline, pending)
            .await
            .unwrap_or(Availability::Unavailable(Unavailable::TimedOut))
    }

    /// Starts the check of `key` in its own task; its outcome replaces the `Checking` entry.
    fn start(&self, key: String, target: Target) -> Pending {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let probe = async {
                // Closed never: the semaphore lives as long as `inner`.
                let _permit = inner.permits.acquire().await;
                inner.probe.probe(target).await
            };
            let availability = tokio::time::timeout(inner.limits.budget, probe)
                .await
                .unwrap_or(Availability::Unavailable(Unavailable::TimedOut));
            let ttl = match availability {
                Availability::Available => inner.limits.available_ttl,
                Availability::Unavailable(_) => inner.limits.unavailable_ttl,
            };
            let now = Instant::now();
            let mut cache = inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() > SWEEP_ABOVE {
                cache.retain(|_, e| match e {
                    Entry::Known { until, .. } => *until > now,
                    Entry::Checking(_) => true,
                });
            }
            cache.insert(
                key,
                Entry::Known {
                    availability,
                    until: now + ttl,
                },
            );
            availability
        });
        // A check task only ends by returning (it never panics on its own); if the runtime
        // drops it, nothing was learnt about the registry, so say so conservatively.
        task.map(|r| r.unwrap_or(Availability::Unavailable(Unavailable::Unreachable)))
            .boxed()
            .shared()
    }
}

/// The production probe: a manifest HEAD with the copier's registry client, no retries (the
/// checker's budget is the only bound that matters), with the backup's credentials.
#[derive(Clone)]
pub struct RegistryProbe {
    ctx: Arc<Context>,
    options: ClientOptions,
    clients: Arc<Mutex<HashMap<Vec<u8>, Client>>>,
}

impl RegistryProbe {
    /// `insecure_registries` as the controller's `--insecure-registries`; `budget` bounds
    /// connecting and reading (the checker bounds the whole check anyway).
    pub fn new(ctx: Arc<Context>, insecure_registries: Vec<String>, budget: Duration) -> Self {
        Self {
            ctx,
            options: ClientOptions {
                insecure_registries,
                retry: RetryPolicy::none(),
                connect_timeout: budget,
                read_timeout: budget,
                ..ClientOptions::default()
            },
            clients: Arc::default(),
        }
    }

    fn client(&self, credentials: &[DockerConfig]) -> Result<Client, String> {
        let key = credentials_key(credentials);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut options = self.options.clone();
        options
            .credentials
            .merge(credential_store(credentials).map_err(|e| e.to_string())?);
        let client = Client::new(options).map_err(|e| e.to_string())?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

impl Probe for RegistryProbe {
    fn probe(&self, target: Target) -> BoxFuture<'static, Availability> {
        let probe = self.clone();
        Box::pin(async move {
            let credentials = match probe.ctx.credentials(&target.pull_secrets).await {
                Ok(credentials) => credentials,
                Err(error) => {
                    // The registry secret is unreadable: check with what we have; the copy
                    // reports the secret loudly.
                    tracing::warn!(%error, image = %target.image, "availability check without the registry secret");
                    probe
                        .ctx
                        .settings
                        .registry_credentials
                        .iter()
                        .cloned()
                        .collect()
                }
            };
            let client = match probe.client(&credentials) {
                Ok(client) => client,
                Err(error) => {
                    tracing::warn!(%error, image = %target.image, "availability check without credentials");
                    match probe.client(&[]) {
                        Ok(client) => client,
                        Err(_) => return Availability::Unavailable(Unavailable::Unreachable),
                    }
                }
            };
            let reference = target.image.reference();
            let result = client
                .head_manifest(&Repository::from(reference), &reference.selector())
                .await
                .map(|found| found.is_some());
            let availability = classify(&result);
            if let (Availability::Unavailable(cause), Err(error)) = (availability, &result) {
                tracing::info!(image = %target.image, cause = cause.as_str(), %error, "original image unavailable");
            }
            availability
        })
    }
}

/// A manifest HEAD's outcome (`Ok(found)`) as availability.
pub fn classify(result: &Result<bool, CopierError>) -> Availability {
    use Unavailable::*;
    let cause = match result {
        Ok(true) => return Availability::Available,
        Ok(false) => NotFound,
        Err(CopierError::Auth { .. }) => Denied,
        Err(CopierError::NotFound { .. }) => NotFound,
        Err(CopierError::Status { status: 429, .. }) => RateLimited,
        Err(CopierError::Status { .. }) => RegistryError,
        Err(CopierError::Transport { source, .. }) if source.is_timeout() => TimedOut,
        Err(_) => Unreachable,
    };
    Availability::Unavailable(cause)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers from a script, counting calls; `None` hangs forever.
    pub struct ScriptedProbe {
        pub answer: Mutex<Option<Availability>>,
        pub calls: AtomicUsize,
    }

    impl ScriptedProbe {
        pub fn new(answer: Option<Availability>) -> Arc<Self> {
            Arc::new(Self {
                answer: Mutex::new(answer),
                calls: AtomicUsize::new(0),
            })
        }

        pub fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl Probe for ScriptedProbe {
        fn probe(&self, _: Target) -> BoxFuture<'static, Availability> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = *self.answer.lock().unwrap();
            Box::pin(async move {
                match answer {
                    Some(a) => a,
                    None => std::future::pending().await,
                }
            })
        }
    }

    fn target(image: &str) -> Target {
        Target {
            image: ImageRef::parse(image).unwrap(),
            pull_secrets: vec![],
        }
    }

    fn limits() -> Limits {
        Limits {
            budget: Duration::from_secs(2),
            available_ttl: Duration::from_secs(10),
            unavailable_ttl: Duration::from_secs(5),
            concurrency: 4,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_cached_per_image_for_their_ttl() {
        let probe = ScriptedProbe::new(Some(Availability::Available));
        let checker = Checker::new(probe.clone(), limits());
        let deadline = || Instant::now() + Duration::from_secs(2);
        assert_eq!(
            checker.check(target("nginx"), deadline()).await,
            Availability::Available
        );
        // Another spelling of the same image is the same entry.
        assert_eq!(
            checker
                .check(target("docker.io/library/nginx:latest"), deadline())
                .await,
            Availability::Available
        );
        assert_eq!(probe.calls(), 1);
        assert_eq!(
            checker.check(target("redis"), deadline()).await,
            Availability::Available
        );
        assert_eq!(probe.calls(), 2);

        // Negative answers are cached too, for their own TTL.
        *probe.answer.lock().unwrap() = Some(Availability::Unavailable(Unavailable::NotFound));
        tokio::time::advance(Duration::from_secs(11)).await;
        let gone = Availability::Unavailable(Unavailable::NotFound);
        assert_eq!(checker.check(target("nginx"), deadline()).await, gone);
        assert_eq!(checker.check(target("nginx"), deadline()).await, gone);
        assert_eq!(probe.calls(), 3);
        tokio::time::advance(Duration::from_secs(6)).await;
        *probe.answer.lock().unwrap() = Some(Availability::Available);
        assert_eq!(
            checker.check(target("nginx"), deadline()).await,
            Availability::Available
        );
        assert_eq!(probe.calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_registry_costs_one_budget_shared_by_concurrent_admissions() {
        let probe = ScriptedProbe::new(None);
        let checker = Checker::new(probe.clone(), limits());
        let started = Instant::now();
        let deadline = started + Duration::from_secs(2);
        let many = (0..50).map(|_| checker.check(target("hung.example/app:1"), deadline));
        let answers = futures::future::join_all(many).await;
        assert!(
            answers
                .iter()
                .all(|a| *a == Availability::Unavailable(Unavailable::TimedOut))
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(probe.calls(), 1, "one check for fifty admissions");

        // Later admissions get the cached timeout at once, without a new check.
        let again = Instant::now();
        let answer = checker
            .check(target("hung.example/app:1"), again + Duration::from_secs(2))
            .await;
        assert_eq!(answer, Availability::Unavailable(Unavailable::TimedOut));
        assert_eq!(again.elapsed(), Duration::ZERO);
        assert_eq!(probe.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_admission_waits_no_longer_than_its_own_deadline() {
        let probe = ScriptedProbe::new(None);
        let checker = Checker::new(probe.clone(), limits());
        let started = Instant::now();
        let answer = checker
            .check(
                target("hung.example/app:1"),
                started + Duration::from_millis(300),
            )
            .await;
        assert_eq!(answer, Availability::Unavailable(Unavailable::TimedOut));
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        // The check goes on without it and its outcome is cached when its budget is spent.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cached = checker
            .check(target("hung.example/app:1"), Instant::now())
            .await;
        assert_eq!(cached, Availability::Unavailable(Unavailable::TimedOut));
        assert_eq!(probe.calls(), 1);
    }

    #[test]
    fn registry_answers_map_to_causes() {
        use Unavailable::*;
        let status = |status| CopierError::Status {
            method: "HEAD".into(),
            url: "u".into(),
            status,
            body: String::new(),
        };
        let auth = CopierError::Auth {
            registry: "r".into(),
            detail: "d".into(),
        };
        assert_eq!(classify(&Ok(true)), Availability::Available);
        for (result, cause) in [
            (Ok(false), NotFound),
            (Err(auth), Denied),
            (Err(status(429)), RateLimited),
            (Err(status(503)), RegistryError),
            (Err(status(400)), RegistryError),
            (Err(CopierError::InvalidInput("x".into())), Unreachable),
        ] {
            assert_eq!(classify(&result), Availability::Unavailable(cause));
        }
    }
}
