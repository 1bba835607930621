//! The controller as a Pebble service in the `controller` container.
//!
//! [`layer`] is a pure function of the validated settings; [`apply`] brings the container in
//! line with it (credentials file, layer, replan) and does nothing when it already is, so a
//! hook that changes nothing never restarts the controller; [`health`] reads back the service
//! and the `/readyz` check.

use std::time::Duration;

use charm_core::pebble::{
    Check, CheckLevel, CheckStatus, Container, Error as PebbleError, HttpCheck, Layer,
    PathErrorKind, PushOptions, Service, ServiceAction, ServiceStatus, Startup,
};

use crate::admission::{WEBHOOK_PORT, WebhookNames};
use crate::config::{AdmissionMode, Settings};

/// The workload container, as named in `charmcraft.yaml`.
pub const CONTAINER: &str = "controller";
/// The Pebble service running the controller.
pub const SERVICE: &str = "image-backup-controller";
/// The Pebble check polling `/readyz`.
pub const READY_CHECK: &str = "controller-ready";
/// The Pebble check polling `/healthz`; the service restarts when it fails.
pub const ALIVE_CHECK: &str = "controller-alive";
/// The label of the charm's layer.
pub const LAYER_LABEL: &str = "image-backup";
/// The controller binary in the workload image (see `oci_image`).
pub const BINARY: &str = "/usr/bin/image-backup";
/// `/healthz`, `/readyz` and `/metrics`.
pub const METRICS_PORT: u16 = 8080;
/// The gRPC API.
pub const GRPC_PORT: u16 = 50051;
/// Where the registry credentials are pushed (mode 0600).
pub const CREDENTIALS_PATH: &str = "/etc/image-backup/registry-auth.json";
/// The controller's environment variable naming the credentials file.
pub const CREDENTIALS_FILE_ENV: &str = "IMAGE_BACKUP_REGISTRY_CREDENTIALS_FILE";

/// The controller's environment variables for pod admission (its `--admission`,
/// `--webhook-*` flags).
pub const ADMISSION_ENV: &str = "IMAGE_BACKUP_ADMISSION";
pub const WEBHOOK_ADDR_ENV: &str = "IMAGE_BACKUP_WEBHOOK_ADDR";
pub const WEBHOOK_SERVICE_ENV: &str = "IMAGE_BACKUP_WEBHOOK_SERVICE";
pub const WEBHOOK_CONFIGURATION_ENV: &str = "IMAGE_BACKUP_WEBHOOK_CONFIGURATION";
pub const WEBHOOK_SECRET_ENV: &str = "IMAGE_BACKUP_WEBHOOK_SECRET";

/// What the layer is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec<'a> {
    pub settings: &'a Settings,
    /// The Kubernetes namespace of the model: where the controller keeps its objects.
    pub namespace: &'a str,
    /// Whether a credentials file is pushed.
    pub with_credentials: bool,
}

/// The charm's Pebble layer: the controller service, configured through its `IMAGE_BACKUP_*`
/// environment (no secret in it: credentials are only a file path), and the readiness check.
pub fn layer(spec: &WorkloadSpec<'_>) -> Layer {
    let s = spec.settings;
    // The controller always excludes its own namespace; saying so keeps the list non-empty,
    // which an environment variable cannot otherwise express.
    let mut exclude = s.exclude_namespaces.clone();
    if !exclude.iter().any(|n| n == spec.namespace) {
        exclude.push(spec.namespace.to_string());
    }
    let mut service = Service::new(format!("{BINARY} controller run"))
        .with_summary("image-backup controller")
        .with_startup(Startup::Enabled)
        .with_env("IMAGE_BACKUP_BACKUP_REGISTRY", &s.backup_registry)
        .with_env("IMAGE_BACKUP_NAMESPACE", spec.namespace)
        .with_env("IMAGE_BACKUP_EXCLUDE_NAMESPACES", exclude.join(","))
        .with_env("IMAGE_BACKUP_ROLLOUT", s.rollout.to_string())
        .with_env("IMAGE_BACKUP_CONCURRENCY", s.concurrency.to_string())
        .with_env(
            "IMAGE_BACKUP_RECHECK_INTERVAL",
            s.recheck_interval.to_string(),
        )
        .with_env(
            "IMAGE_BACKUP_METRICS_ADDR",
            format!("0.0.0.0:{METRICS_PORT}"),
        )
        .with_env("IMAGE_BACKUP_GRPC_ADDR", format!("0.0.0.0:{GRPC_PORT}"))
        .with_env("IMAGE_BACKUP_LOG", "info");
    if spec.with_credentials {
        service = service.with_env(CREDENTIALS_FILE_ENV, CREDENTIALS_PATH);
    }
    let check = Check {
        r#override: Some(charm_core::pebble::Override::Replace),
        level: Some(CheckLevel::Ready),
        period: Some(Duration::from_secs(10).into()),
        timeout: Some(Duration::from_secs(3).into()),
        threshold: Some(3),
        http: Some(HttpCheck {
            url: Some(format!("http://localhost:{METRICS_PORT}/readyz")),
            ..HttpCheck::default()
        }),
        ..Check::default()
    };
    // A wedged controller (see the controller's `health` module) fails `/healthz`; Pebble
    // restarts it after three failures in a row, as a Kubernetes liveness probe would.
    let alive = Check {
        r#override: Some(charm_core::pebble::Override::Replace),
        level: Some(CheckLevel::Alive),
        period: Some(Duration::from_secs(10).into()),
        timeout: Some(Duration::from_secs(3).into()),
        threshold: Some(3),
        http: Some(HttpCheck {
            url: Some(format!("http://localhost:{METRICS_PORT}/healthz")),
            ..HttpCheck::default()
        }),
        ..Check::default()
    };
    service
        .on_check_failure
        .insert(ALIVE_CHECK.to_string(), ServiceAction::Restart);
    Layer::new()
        .with_summary("image-backup controller")
        .with_service(SERVICE, service)
        .with_check(READY_CHECK, check)
        .with_check(ALIVE_CHECK, alive)
}

/// `layer` with the controller admitting pods in `mode` behind the objects `names` names.
/// With admission off the layer is left exactly as [`layer`] built it (the controller's
/// default is off), so a charm upgrade does not restart a controller that admits nothing;
/// switching between modes changes the environment, so [`apply`] replans.
pub fn with_admission(mut layer: Layer, mode: AdmissionMode, names: &WebhookNames) -> Layer {
    if !mode.is_on() {
        return layer;
    }
    if let Some(service) = layer.services.get_mut(SERVICE) {
        for (key, value) in [
            (ADMISSION_ENV, mode.as_str().to_string()),
            (WEBHOOK_ADDR_ENV, format!("0.0.0.0:{WEBHOOK_PORT}")),
            (WEBHOOK_SERVICE_ENV, names.service.clone()),
            (WEBHOOK_CONFIGURATION_ENV, names.configuration.clone()),
            (WEBHOOK_SECRET_ENV, names.secret.clone()),
        ] {
            service.environment.insert(key.to_string(), value);
        }
    }
    layer
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Pebble does not answer yet: `pebble-ready` will come.
    PebbleNotReady,
    /// The container already matched: nothing was touched.
    Unchanged,
    /// The layer changed: added and replanned (which restarts the service).
    Replanned,
    /// Only the credentials file changed: the service was restarted to read it.
    Restarted,
}

/// Brings the container in line with `layer` and `credentials` (the content of the
/// credentials file, `None` to have none).
pub async fn apply(
    container: &Container,
    layer: &Layer,
    credentials: Option<&[u8]>,
) -> Result<Applied, PebbleError> {
    if !container.can_connect().await {
        return Ok(Applied::PebbleNotReady);
    }
    let pebble = container.pebble();
    let file_changed = sync_credentials(container, credentials).await?;
    let plan = pebble.plan().await?;
    let layer_changed = plan.services.get(SERVICE) != layer.services.get(SERVICE)
        || plan.checks.get(READY_CHECK) != layer.checks.get(READY_CHECK)
        || plan.checks.get(ALIVE_CHECK) != layer.checks.get(ALIVE_CHECK);
    if layer_changed {
        pebble.add_layer(LAYER_LABEL, layer, true).await?;
        pebble.replan_services().await?;
        return Ok(Applied::Replanned);
    }
    if file_changed {
        pebble.restart_services(&[SERVICE]).await?;
        return Ok(Applied::Restarted);
    }
    Ok(Applied::Unchanged)
}

/// Writes or removes the credentials file; returns whether it changed. The old content is read
/// back to compare, so nothing about the credentials has to be remembered elsewhere.
async fn sync_credentials(
    container: &Container,
    credentials: Option<&[u8]>,
) -> Result<bool, PebbleError> {
    let pebble = container.pebble();
    let current = match pebble.pull_bytes(CREDENTIALS_PATH).await {
        Ok(bytes) => Some(bytes),
        Err(PebbleError::Path {
            kind: PathErrorKind::NotFound,
            ..
        }) => None,
        Err(e) => return Err(e),
    };
    match (credentials, current) {
        (Some(wanted), Some(current)) if wanted == current.as_slice() => Ok(false),
        (Some(wanted), _) => {
            let options = PushOptions {
                make_dirs: true,
                permissions: Some(0o600),
                ..PushOptions::default()
            };
            pebble
                .push_bytes(CREDENTIALS_PATH, wanted.to_vec(), &options)
                .await?;
            Ok(true)
        }
        (None, Some(_)) => {
            pebble.remove_path(CREDENTIALS_PATH, false).await?;
            Ok(true)
        }
        (None, None) => Ok(false),
    }
}

/// How the controller is doing, as Pebble sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Pebble does not answer.
    PebbleNotReady,
    /// The service is not in the plan or not running (with Pebble's status).
    NotRunning(String),
    /// Running, and `/readyz` answers.
    Ready,
    /// Running, but `/readyz` failed this many times in a row (`down` once past the
    /// threshold).
    NotReady { failures: u32, down: bool },
}

/// Reads the service's status and the readiness check.
pub async fn health(container: &Container) -> Result<Health, PebbleError> {
    if !container.can_connect().await {
        return Ok(Health::PebbleNotReady);
    }
    let pebble = container.pebble();
    let services = pebble.services(&[SERVICE]).await?;
    let Some(service) = services.iter().find(|s| s.name == SERVICE) else {
        return Ok(Health::NotRunning("not in the Pebble plan".into()));
    };
    if service.current != ServiceStatus::Active {
        return Ok(Health::NotRunning(service.current.to_string()));
    }
    let checks = pebble.checks(None, &[READY_CHECK]).await?;
    Ok(match checks.iter().find(|c| c.name == READY_CHECK) {
        None => Health::NotRunning("its readiness check is not in the plan".into()),
        Some(c) if c.status == CheckStatus::Up && c.failures == 0 => Health::Ready,
        Some(c) => Health::NotReady {
            failures: c.failures,
            down: c.status == CheckStatus::Down,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RecheckInterval;
    use charm_core::pebble::fake::FakePebble;

    fn settings() -> Settings {
        Settings {
            backup_registry: "registry.example.com:5000/backups".into(),
            credentials_secret: None,
            exclude_namespaces: vec!["kube-system".into()],
            rollout: false,
            concurrency: 4,
            recheck_interval: RecheckInterval::parse("1h").unwrap(),
        }
    }

    #[test]
    fn layer_configures_the_controller_through_its_environment() {
        let s = settings();
        let layer = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: false,
        });
        let service = &layer.services[SERVICE];
        assert_eq!(
            service.command.as_deref(),
            Some("/usr/bin/image-backup controller run")
        );
        assert_eq!(service.startup, Some(Startup::Enabled));
        let env: Vec<(&str, &str)> = service
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                (
                    "IMAGE_BACKUP_BACKUP_REGISTRY",
                    "registry.example.com:5000/backups"
                ),
                ("IMAGE_BACKUP_CONCURRENCY", "4"),
                ("IMAGE_BACKUP_EXCLUDE_NAMESPACES", "kube-system,backups"),
                ("IMAGE_BACKUP_GRPC_ADDR", "0.0.0.0:50051"),
                ("IMAGE_BACKUP_LOG", "info"),
                ("IMAGE_BACKUP_METRICS_ADDR", "0.0.0.0:8080"),
                ("IMAGE_BACKUP_NAMESPACE", "backups"),
                ("IMAGE_BACKUP_RECHECK_INTERVAL", "3600s"),
                ("IMAGE_BACKUP_ROLLOUT", "false"),
            ]
        );
        let check = &layer.checks[READY_CHECK];
        assert_eq!(check.level, Some(CheckLevel::Ready));
        assert_eq!(
            check.http.as_ref().and_then(|h| h.url.as_deref()),
            Some("http://localhost:8080/readyz")
        );
        let alive = &layer.checks[ALIVE_CHECK];
        assert_eq!(alive.level, Some(CheckLevel::Alive));
        assert_eq!(
            alive.http.as_ref().and_then(|h| h.url.as_deref()),
            Some("http://localhost:8080/healthz")
        );
        assert_eq!(
            service.on_check_failure.get(ALIVE_CHECK),
            Some(&ServiceAction::Restart),
            "a wedged controller is restarted"
        );
        assert!(
            !service.on_check_failure.contains_key(READY_CHECK),
            "not ready (caches syncing, API server away) is no reason to restart"
        );
        layer.validate().unwrap();
    }

    #[test]
    fn credentials_are_a_path_never_a_value() {
        let s = settings();
        let spec = |with_credentials| WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials,
        };
        let with = layer(&spec(true));
        assert_eq!(
            with.services[SERVICE].environment[CREDENTIALS_FILE_ENV],
            CREDENTIALS_PATH
        );
        assert!(
            !layer(&spec(false)).services[SERVICE]
                .environment
                .contains_key(CREDENTIALS_FILE_ENV)
        );
    }

    #[test]
    fn own_namespace_is_not_repeated() {
        let mut s = settings();
        s.exclude_namespaces = vec!["backups".into()];
        let layer = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: false,
        });
        assert_eq!(
            layer.services[SERVICE].environment["IMAGE_BACKUP_EXCLUDE_NAMESPACES"],
            "backups"
        );
    }

    fn names() -> WebhookNames {
        WebhookNames::new(&crate::cluster::Owner {
            model: "backups".into(),
            app: "image-backup".into(),
        })
    }

    #[test]
    fn admission_names_the_webhook_objects_and_off_changes_nothing() {
        let s = settings();
        let plain = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: false,
        });
        assert_eq!(
            with_admission(plain.clone(), AdmissionMode::Off, &names()),
            plain
        );

        let failover = with_admission(plain.clone(), AdmissionMode::Failover, &names());
        let env = &failover.services[SERVICE].environment;
        let added: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| !plain.services[SERVICE].environment.contains_key(*k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            added,
            [
                ("IMAGE_BACKUP_ADMISSION", "failover"),
                ("IMAGE_BACKUP_WEBHOOK_ADDR", "0.0.0.0:9443"),
                (
                    "IMAGE_BACKUP_WEBHOOK_CONFIGURATION",
                    "image-backup-backups-image-backup"
                ),
                ("IMAGE_BACKUP_WEBHOOK_SECRET", "image-backup-webhook-tls"),
                ("IMAGE_BACKUP_WEBHOOK_SERVICE", "image-backup-webhook"),
            ]
        );
        assert_eq!(failover.checks, plain.checks);
        failover.validate().unwrap();

        // Another mode is another service definition: `apply` replans.
        let always = with_admission(plain, AdmissionMode::Always, &names());
        assert_eq!(
            always.services[SERVICE].environment[ADMISSION_ENV],
            "always"
        );
        assert_ne!(always.services[SERVICE], failover.services[SERVICE]);
    }

    #[tokio::test]
    async fn apply_replans_only_on_change_and_restarts_for_new_credentials() {
        let base = tempfile::tempdir().unwrap();
        let container = Container::with_socket_base(CONTAINER, base.path()).unwrap();
        let s = settings();
        let wanted = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: true,
        });
        assert_eq!(
            apply(&container, &wanted, Some(b"one")).await.unwrap(),
            Applied::PebbleNotReady
        );
        let fake = FakePebble::start_at(Container::socket_path(base.path(), CONTAINER))
            .await
            .unwrap();
        assert_eq!(
            apply(&container, &wanted, Some(b"one")).await.unwrap(),
            Applied::Replanned
        );
        assert_eq!(fake.service_status(SERVICE), Some(ServiceStatus::Active));
        let file = fake.host_path(CREDENTIALS_PATH);
        assert_eq!(std::fs::read(&file).unwrap(), b"one");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            apply(&container, &wanted, Some(b"one")).await.unwrap(),
            Applied::Unchanged
        );
        let requests = fake.requests().len();
        assert_eq!(
            apply(&container, &wanted, Some(b"two")).await.unwrap(),
            Applied::Restarted
        );
        assert!(
            fake.requests()[requests..]
                .iter()
                .any(|r| r.starts_with("POST /v1/services")),
            "{:?}",
            fake.requests()
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"two");

        // Credentials removed: the file goes and the layer no longer names it.
        let without = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: false,
        });
        assert_eq!(
            apply(&container, &without, None).await.unwrap(),
            Applied::Replanned
        );
        assert!(!file.exists());
        assert!(
            !fake.plan().services[SERVICE]
                .environment
                .contains_key(CREDENTIALS_FILE_ENV)
        );
    }

    #[tokio::test]
    async fn health_follows_the_service_and_the_check() {
        let base = tempfile::tempdir().unwrap();
        let container = Container::with_socket_base(CONTAINER, base.path()).unwrap();
        assert_eq!(health(&container).await.unwrap(), Health::PebbleNotReady);
        let fake = FakePebble::start_at(Container::socket_path(base.path(), CONTAINER))
            .await
            .unwrap();
        assert!(matches!(
            health(&container).await.unwrap(),
            Health::NotRunning(_)
        ));
        let s = settings();
        let wanted = layer(&WorkloadSpec {
            settings: &s,
            namespace: "backups",
            with_credentials: false,
        });
        apply(&container, &wanted, None).await.unwrap();
        assert_eq!(health(&container).await.unwrap(), Health::Ready);
        fake.set_check(READY_CHECK, CheckStatus::Down, 3);
        assert_eq!(
            health(&container).await.unwrap(),
            Health::NotReady {
                failures: 3,
                down: true
            }
        );
        fake.set_service_status(SERVICE, ServiceStatus::Error);
        assert_eq!(
            health(&container).await.unwrap(),
            Health::NotRunning("error".into())
        );
    }
}
