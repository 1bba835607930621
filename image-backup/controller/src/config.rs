//! Command-line flags (every one also settable as `IMAGE_BACKUP_*` in the environment) and the
//! validated configuration they turn into.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admission::{AdmissionSettings, Mode as AdmissionMode, is_dns_subdomain};
use crate::context::RolloutMode;
use crate::copier::DockerConfig;
use image_backup_copier::{BackupNaming, CredentialStore};

/// `image-backup controller run` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Where backups go: `host[:port][/path]`, e.g. `registry.example.com:5000/backups`.
    #[arg(long, env = "IMAGE_BACKUP_BACKUP_REGISTRY")]
    pub backup_registry: String,
    /// Namespace of the ImageBackup objects, the registry secret and the leader lease.
    #[arg(long, env = "IMAGE_BACKUP_NAMESPACE", default_value = "image-backup")]
    pub namespace: String,
    /// Namespaces whose workloads are not backed up (the controller's own is always excluded).
    #[arg(
        long,
        env = "IMAGE_BACKUP_EXCLUDE_NAMESPACES",
        value_delimiter = ',',
        default_value = "kube-system"
    )]
    pub exclude_namespaces: Vec<String>,
    /// Switch workloads to their backup images once every image is backed up.
    #[arg(
        long,
        env = "IMAGE_BACKUP_ROLLOUT",
        conflicts_with = "restore_originals"
    )]
    pub rollout: bool,
    /// Put back the original images of workloads switched by `--rollout`.
    #[arg(long, env = "IMAGE_BACKUP_RESTORE_ORIGINALS")]
    pub restore_originals: bool,
    /// Objects reconciled at once per controller (so also the number of parallel copies).
    #[arg(long, env = "IMAGE_BACKUP_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// How often a finished backup is checked to still exist: `90s`, `30m`, `1h`, `2d`.
    #[arg(long, env = "IMAGE_BACKUP_RECHECK_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub recheck_interval: Duration,
    /// Copy attempts before a backup is marked Failed.
    #[arg(long, env = "IMAGE_BACKUP_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(
        long,
        env = "IMAGE_BACKUP_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,
    /// Address of the gRPC API.
    #[arg(long, env = "IMAGE_BACKUP_GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,
    /// How long a leader's lease lasts without renewal before another replica may take it
    /// (whole seconds, as the Lease stores it).
    #[arg(long, env = "IMAGE_BACKUP_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down and exits; shorter than
    /// `--lease-duration`, so that it stops before anyone else may start.
    #[arg(long, env = "IMAGE_BACKUP_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: Duration,
    /// Pause between two tries to acquire or renew the lease: `2s`, `500ms`.
    #[arg(long, env = "IMAGE_BACKUP_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub lease_retry_period: Duration,
    /// A kubeconfig file to use instead of the in-cluster service account (or `KUBECONFIG`).
    #[arg(long, env = "IMAGE_BACKUP_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// `kubernetes.io/dockerconfigjson` secret (in `--namespace`) with the backup registry's
    /// credentials.
    #[arg(long, env = "IMAGE_BACKUP_REGISTRY_SECRET")]
    pub registry_secret: Option<String>,
    /// Docker `config.json` file with the backup registry's credentials (what the charm writes
    /// from a Juju secret). Read once at start; takes precedence over `--registry-secret`.
    #[arg(long, env = "IMAGE_BACKUP_REGISTRY_CREDENTIALS_FILE")]
    pub registry_credentials_file: Option<PathBuf>,
    /// Registries (`host[:port]`) spoken to over plain HTTP (loopback ones always are).
    #[arg(long, env = "IMAGE_BACKUP_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub insecure_registries: Vec<String>,
    /// Name of this replica in the lease and in `status.holder` (default: `POD_NAME` from the
    /// downward API, else the hostname with the process id).
    #[arg(long, env = "IMAGE_BACKUP_IDENTITY")]
    pub identity: Option<String>,
    /// Run without the leader lease (only when exactly one replica runs).
    #[arg(long, env = "IMAGE_BACKUP_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,

    // Admission webhook (see `admission`).
    /// Pod admission webhook: `off`, `failover` (use an image's backup when the original is
    /// unavailable) or `always` (use every Done backup). Served by every replica.
    #[arg(long, env = "IMAGE_BACKUP_ADMISSION", value_enum, default_value_t = AdmissionMode::Off)]
    pub admission: AdmissionMode,
    /// HTTPS address of the admission webhook.
    #[arg(
        long,
        env = "IMAGE_BACKUP_WEBHOOK_ADDR",
        default_value = "0.0.0.0:9443"
    )]
    pub webhook_addr: SocketAddr,
    /// Service (in `--namespace`) in front of the webhook; names the serving certificate.
    #[arg(
        long,
        env = "IMAGE_BACKUP_WEBHOOK_SERVICE",
        default_value = "image-backup-webhook"
    )]
    pub webhook_service: String,
    /// MutatingWebhookConfiguration whose caBundle the controller keeps current.
    #[arg(
        long,
        env = "IMAGE_BACKUP_WEBHOOK_CONFIGURATION",
        default_value = "image-backup"
    )]
    pub webhook_configuration: String,
    /// Secret (in `--namespace`) with the webhook's CA and serving certificate, created and
    /// renewed by the controller.
    #[arg(
        long,
        env = "IMAGE_BACKUP_WEBHOOK_SECRET",
        default_value = "image-backup-webhook-tls"
    )]
    pub webhook_secret: String,
}

/// A validated controller configuration.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Where backups go and how they are named.
    pub naming: BackupNaming,
    pub namespace: String,
    /// Always contains `namespace`.
    pub exclude_namespaces: Vec<String>,
    pub rollout: RolloutMode,
    pub concurrency: u16,
    pub recheck_interval: Duration,
    pub max_attempts: u32,
    pub metrics_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// Leader election timings: [`LeaseTimings`].
    pub lease: LeaseTimings,
    /// Server-side timeout of every watch request. The watcher also gives up on a watch that
    /// has been silent this long plus 5 s (a dead connection), so this bounds how long an API
    /// server that vanished without closing its connections goes unnoticed. Not a flag: the
    /// default suits every cluster; tests shorten it.
    pub watch_timeout: Duration,
    /// `--kubeconfig`; `None`: in-cluster, or the `KUBECONFIG` of the environment.
    pub kubeconfig: Option<PathBuf>,
    pub registry_secret: Option<String>,
    /// The content of `--registry-credentials-file`, checked to parse.
    pub registry_credentials: Option<DockerConfig>,
    pub insecure_registries: Vec<String>,
    pub identity: String,
    pub leader_election: bool,
    /// The admission webhook; [`AdmissionMode::Off`] serves none.
    pub admission: AdmissionSettings,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--backup-registry {value:?} is not host[:port][/prefix]: {reason}")]
    BackupRegistry { value: String, reason: String },
    #[error("--namespace {0:?} is not a valid namespace name")]
    Namespace(String),
    #[error("--concurrency must be at least 1")]
    Concurrency,
    #[error("--max-attempts must be at least 1")]
    MaxAttempts,
    #[error("--recheck-interval must be at least 1s")]
    RecheckInterval,
    #[error(
        "lease timings must satisfy --lease-duration ({duration:?}, whole seconds) > \
         --lease-renew-deadline ({renew_deadline:?}) > --lease-retry-period ({retry_period:?}) > 0"
    )]
    LeaseTimings {
        duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    },
    #[error("--registry-credentials-file {path}: {reason}")]
    CredentialsFile { path: String, reason: String },
    #[error("--{flag} {value:?} is not a valid Kubernetes object name")]
    WebhookName { flag: &'static str, value: String },
}

impl ControllerConfig {
    /// Parses and checks the flags of `image-backup controller run` (`argv[0]` is the program
    /// name), as the CLI does: how tests, benchmarks and embedders configure [`crate::run()`].
    pub fn from_argv<I, T>(argv: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            args: Args,
        }
        let flags = <Flags as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?;
        Self::try_from(flags.args).map_err(|e| e.to_string())
    }
}

impl TryFrom<Args> for ControllerConfig {
    type Error = ConfigError;

    fn try_from(args: Args) -> Result<Self, ConfigError> {
        let naming = backup_naming(&args.backup_registry)?;
        let registry_credentials = match &args.registry_credentials_file {
            Some(path) => Some(credentials_file(path)?),
            None => None,
        };
        if !crate::naming::is_dns_label(&args.namespace) {
            return Err(ConfigError::Namespace(args.namespace));
        }
        if args.concurrency == 0 {
            return Err(ConfigError::Concurrency);
        }
        if args.max_attempts == 0 {
            return Err(ConfigError::MaxAttempts);
        }
        if args.recheck_interval < Duration::from_secs(1) {
            return Err(ConfigError::RecheckInterval);
        }
        let lease = LeaseTimings::new(
            args.lease_duration,
            args.lease_renew_deadline,
            args.lease_retry_period,
        )?;
        let mut exclude_namespaces: Vec<String> = args
            .exclude_namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if !exclude_namespaces.contains(&args.namespace) {
            exclude_namespaces.push(args.namespace.clone());
        }
        let admission = admission_settings(&args)?;
        let rollout = match (args.rollout, args.restore_originals) {
            (true, _) => RolloutMode::Rollout,
            (false, true) => RolloutMode::RestoreOriginals,
            (false, false) => RolloutMode::Off,
        };
        Ok(Self {
            naming,
            namespace: args.namespace,
            exclude_namespaces,
            rollout,
            concurrency: args.concurrency,
            recheck_interval: args.recheck_interval,
            max_attempts: args.max_attempts,
            metrics_addr: args.metrics_addr,
            grpc_addr: args.grpc_addr,
            lease,
            watch_timeout: DEFAULT_WATCH_TIMEOUT,
            kubeconfig: args.kubeconfig,
            registry_secret: args.registry_secret.filter(|s| !s.is_empty()),
            registry_credentials,
            insecure_registries: args
                .insecure_registries
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect(),
            identity: args
                .identity
                .filter(|s| !s.is_empty())
                .unwrap_or_else(default_identity),
            leader_election: !args.no_leader_election,
            admission,
        })
    }
}

/// Server-side timeout of watch requests (see [`ControllerConfig::watch_timeout`]).
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// client-go's leader election timings: the leader renews every `retry_period` and steps down
/// when it has not renewed for `renew_deadline`; others take the lease once it has not been
/// renewed for `duration`. `duration > renew_deadline > retry_period` leaves the old leader
/// `duration - renew_deadline` to stop before a new one may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

impl LeaseTimings {
    pub fn new(
        duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Result<Self, ConfigError> {
        let valid = duration.subsec_nanos() == 0
            && duration > renew_deadline
            && renew_deadline > retry_period
            && !retry_period.is_zero();
        if !valid {
            return Err(ConfigError::LeaseTimings {
                duration,
                renew_deadline,
                retry_period,
            });
        }
        Ok(Self {
            duration,
            renew_deadline,
            retry_period,
        })
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    pub fn retry_period(&self) -> Duration {
        self.retry_period
    }
}

impl Default for LeaseTimings {
    /// client-go's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The webhook flags, names checked (a Service name is a DNS label; a Secret and a webhook
/// configuration name are DNS subdomains).
fn admission_settings(args: &Args) -> Result<AdmissionSettings, ConfigError> {
    let check = |flag: &'static str, value: &str, ok: fn(&str) -> bool| {
        if ok(value) {
            Ok(value.to_string())
        } else {
            Err(ConfigError::WebhookName {
                flag,
                value: value.to_string(),
            })
        }
    };
    Ok(AdmissionSettings {
        mode: args.admission,
        addr: args.webhook_addr,
        service: check(
            "webhook-service",
            &args.webhook_service,
            crate::naming::is_dns_label,
        )?,
        configuration: check(
            "webhook-configuration",
            &args.webhook_configuration,
            is_dns_subdomain,
        )?,
        secret: check("webhook-secret", &args.webhook_secret, is_dns_subdomain)?,
    })
}

/// `host[:port][/prefix]` as the copier's backup naming: backups are pushed to
/// `<host>/<prefix>/<source host>/<source path>:<tag>`.
fn backup_naming(value: &str) -> Result<BackupNaming, ConfigError> {
    let trimmed = value.trim().trim_matches('/');
    let (host, prefix) = match trimmed.split_once('/') {
        Some((host, prefix)) => (host, Some(prefix)),
        None => (trimmed, None),
    };
    BackupNaming::preserving(host, prefix).map_err(|e| ConfigError::BackupRegistry {
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// Reads a Docker `config.json` and checks it now, so that a bad file stops the controller at
/// start with its path named instead of failing every copy later.
fn credentials_file(path: &Path) -> Result<DockerConfig, ConfigError> {
    let error = |reason: String| ConfigError::CredentialsFile {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let store =
        CredentialStore::from_dockerconfigjson_secret(&bytes).map_err(|e| error(e.to_string()))?;
    if store.is_empty() {
        return Err(error("it holds no registry credentials".into()));
    }
    Ok(DockerConfig(bytes))
}

/// The pod's name (`POD_NAME`, from the downward API) when there is one: an operator reads it in
/// the lease and in `status.holder` and knows which pod it is. Two processes never share it
/// (a restarted container's predecessor is dead, and taking over its lease and claims at once
/// is right). Without it, the hostname, which `hostNetwork: true` pods share with their node,
/// so it gets this process's id and start time to stay unique.
fn default_identity() -> String {
    identity_from(std::env::var("POD_NAME").ok())
}

fn identity_from(pod_name: Option<String>) -> String {
    if let Some(pod) = pod_name
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
    {
        return pod;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "image-backup-controller".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{host}/{}-{started:x}", std::process::id())
}

/// `90`, `90s`, `500ms`, `30m`, `1h`, `2d`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration like 90s, 30m, 1h or 2d"))?;
    if unit == "ms" {
        return Ok(Duration::from_millis(number));
    }
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{value:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{value:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn config(argv: &[&str]) -> Result<ControllerConfig, ConfigError> {
        let mut full = vec!["test"];
        full.extend_from_slice(argv);
        ControllerConfig::try_from(Cli::try_parse_from(full).unwrap().args)
    }

    #[test]
    fn defaults_exclude_kube_system_and_own_namespace() {
        let c = config(&["--backup-registry", "registry.local:5000/backups/"]).unwrap();
        assert_eq!(
            c.naming,
            BackupNaming::preserving("registry.local:5000", Some("backups")).unwrap()
        );
        assert_eq!(c.exclude_namespaces, ["kube-system", "image-backup"]);
        assert_eq!(c.rollout, RolloutMode::Off);
        assert_eq!(
            (c.concurrency, c.recheck_interval),
            (4, Duration::from_secs(3600))
        );
        assert!(c.leader_election);
    }

    #[test]
    fn flags_are_parsed_and_validated() {
        let c = config(&[
            "--backup-registry",
            "ghcr.io",
            "--namespace",
            "ops",
            "--exclude-namespaces",
            "a,b",
            "--rollout",
            "--concurrency",
            "8",
            "--recheck-interval",
            "30m",
            "--registry-secret",
            "regcred",
        ])
        .unwrap();
        assert_eq!(c.naming, BackupNaming::preserving("ghcr.io", None).unwrap());
        assert_eq!(c.exclude_namespaces, ["a", "b", "ops"]);
        assert_eq!(c.rollout, RolloutMode::Rollout);
        assert_eq!(c.recheck_interval, Duration::from_secs(1800));
        assert_eq!(c.registry_secret.as_deref(), Some("regcred"));

        assert!(
            matches!(config(&["--backup-registry", "Bad Host"]), Err(ConfigError::BackupRegistry { value, .. }) if value == "Bad Host")
        );
        assert!(matches!(
            config(&["--backup-registry", "r.local/x:tag"]),
            Err(ConfigError::BackupRegistry { .. })
        ));
        assert_eq!(
            config(&["--backup-registry", "r.local", "--concurrency", "0"]).unwrap_err(),
            ConfigError::Concurrency
        );
        assert_eq!(
            config(&["--backup-registry", "r.local", "--namespace", "Bad_NS"]).unwrap_err(),
            ConfigError::Namespace("Bad_NS".into())
        );
        assert!(
            Cli::try_parse_from([
                "t",
                "--backup-registry",
                "r",
                "--rollout",
                "--restore-originals"
            ])
            .is_err()
        );
    }

    #[test]
    fn admission_flags_default_to_off_and_are_checked() {
        let c = config(&["--backup-registry", "r.local"]).unwrap();
        assert_eq!(
            c.admission,
            AdmissionSettings {
                mode: AdmissionMode::Off,
                addr: "0.0.0.0:9443".parse().unwrap(),
                service: "image-backup-webhook".into(),
                configuration: "image-backup".into(),
                secret: "image-backup-webhook-tls".into(),
            }
        );
        let c = config(&[
            "--backup-registry",
            "r.local",
            "--admission",
            "failover",
            "--webhook-addr",
            "127.0.0.1:8443",
            "--webhook-configuration",
            "image-backup-model-app",
        ])
        .unwrap();
        assert_eq!(c.admission.mode, AdmissionMode::Failover);
        assert_eq!(c.admission.addr.port(), 8443);
        assert_eq!(c.admission.configuration, "image-backup-model-app");
        assert_eq!(
            config(&["--backup-registry", "r.local", "--webhook-service", "a.b"]).unwrap_err(),
            ConfigError::WebhookName {
                flag: "webhook-service",
                value: "a.b".into()
            }
        );
        assert!(
            Cli::try_parse_from(["t", "--backup-registry", "r", "--admission", "sometimes"])
                .is_err()
        );
    }

    #[test]
    fn the_credentials_file_is_read_and_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("config.json");
        let json = br#"{"auths": {"backup.local:5000": {"auth": "cm9ib3Q6czNjcmV0"}}}"#;
        std::fs::write(&good, json).unwrap();
        let c = config(&[
            "--backup-registry",
            "backup.local:5000",
            "--registry-credentials-file",
            good.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(c.registry_credentials, Some(DockerConfig(json.to_vec())));

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"{\"auths\": {\"r\": {\"auth\": \"bm8tY29sb24=\"}}}").unwrap();
        let missing = dir.path().join("missing.json");
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, b"{\"auths\": {}}").unwrap();
        for (path, reason) in [
            (&bad, "USER:PASSWORD"),
            (&missing, "No such file"),
            (&empty, "no registry credentials"),
        ] {
            let err = config(&[
                "--backup-registry",
                "backup.local:5000",
                "--registry-credentials-file",
                path.to_str().unwrap(),
            ])
            .unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.contains(path.to_str().unwrap()) && shown.contains(reason),
                "{shown}"
            );
        }
    }

    #[test]
    fn every_flag_has_an_image_backup_env_var() {
        use clap::CommandFactory;
        let command = Cli::command();
        for arg in command
            .get_arguments()
            .filter(|a| a.get_long().is_some() && a.get_id() != "help")
        {
            let long = arg.get_long().unwrap();
            let want = format!("IMAGE_BACKUP_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(want.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn lease_timings_default_to_client_go_and_must_nest() {
        let c = config(&["--backup-registry", "r.local"]).unwrap();
        assert_eq!(c.lease, LeaseTimings::default());
        assert_eq!(
            (
                c.lease.duration(),
                c.lease.renew_deadline(),
                c.lease.retry_period()
            ),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        let fast = config(&[
            "--backup-registry",
            "r.local",
            "--lease-duration",
            "2s",
            "--lease-renew-deadline",
            "1s",
            "--lease-retry-period",
            "200ms",
        ])
        .unwrap();
        assert_eq!(fast.lease.retry_period(), Duration::from_millis(200));
        for bad in [
            ["10s", "10s", "2s"],
            ["15s", "10s", "10s"],
            ["1500ms", "1s", "100ms"],
            ["15s", "10s", "0s"],
        ] {
            let err = config(&[
                "--backup-registry",
                "r.local",
                "--lease-duration",
                bad[0],
                "--lease-renew-deadline",
                bad[1],
                "--lease-retry-period",
                bad[2],
            ])
            .unwrap_err();
            assert!(matches!(err, ConfigError::LeaseTimings { .. }), "{bad:?}");
            assert!(err.to_string().contains("--lease-renew-deadline"), "{err}");
        }
    }

    #[test]
    fn identity_is_the_pod_name_when_there_is_one() {
        assert_eq!(
            identity_from(Some("image-backup-7d9f-x2".into())),
            "image-backup-7d9f-x2"
        );
        let fallback = identity_from(Some(" ".into()));
        assert!(
            fallback.contains(&format!("/{}-", std::process::id())),
            "{fallback}"
        );
        let explicit = config(&["--backup-registry", "r.local", "--identity", "me"]).unwrap();
        assert_eq!(explicit.identity, "me");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for (input, secs) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("1h", 3600),
            ("2d", 172800),
        ] {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_secs(secs)),
                "{input}"
            );
        }
        for bad in ["", "h", "1w", "-1s", "1.5h"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
