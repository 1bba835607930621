//! The Pebble layer's environment against the controller's own command line parser: every
//! `IMAGE_BACKUP_*` variable the charm sets must be one the controller reads, with a value it
//! accepts, and the credentials file the charm pushes must be one the controller can use.

use std::collections::BTreeSet;

use clap::{Args as _, FromArgMatches as _};
use std::collections::BTreeMap;

use image_backup_charm::admission::WebhookNames;
use image_backup_charm::cluster::Owner;
use image_backup_charm::config::{AdmissionMode, RecheckInterval, Settings};
use image_backup_charm::credentials::RegistryCredentials;
use image_backup_charm::workload::{self, SERVICE, WorkloadSpec};
use image_backup_controller::{Args, ControllerConfig};

/// Variables the layer sets that `controller run`'s flags do not read, and why.
const NOT_CONTROLLER_FLAGS: [&str; 1] = [
    // Read by the `image-backup` binary's main for its log filter.
    "IMAGE_BACKUP_LOG",
];

fn settings() -> Settings {
    Settings {
        backup_registry: "registry.example.com:5000/backups".into(),
        credentials_secret: Some("secret:abc".into()),
        exclude_namespaces: vec!["kube-system".into(), "monitoring".into()],
        rollout: true,
        concurrency: 8,
        recheck_interval: RecheckInterval::parse("2d").unwrap(),
    }
}

/// `controller run` parsed from `env` as the controller's flags read it (every variable must
/// be one of them, but [`NOT_CONTROLLER_FLAGS`]), with the matches to look at raw values.
fn controller_config(env: &BTreeMap<String, String>) -> (ControllerConfig, clap::ArgMatches) {
    let command = Args::augment_args(clap::Command::new("run"));
    let mut argv = vec!["run".to_string()];
    let mut unknown = BTreeSet::new();
    for (name, value) in env {
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
        else {
            unknown.insert(name.as_str());
            continue;
        };
        let long = arg.get_long().unwrap();
        if arg.get_action().takes_values() {
            argv.push(format!("--{long}={value}"));
        } else if value == "true" {
            argv.push(format!("--{long}"));
        } else {
            assert_eq!(value, "false", "{name}: a flag is true or false");
        }
    }
    assert_eq!(unknown, BTreeSet::from(NOT_CONTROLLER_FLAGS));
    let matches = command.try_get_matches_from(&argv).unwrap();
    let args = Args::from_arg_matches(&matches).unwrap();
    (ControllerConfig::try_from(args).unwrap(), matches)
}

/// With admission on, the webhook's flags: each one the controller reads, with the names the
/// charm gives the objects it applies.
#[test]
fn the_controller_accepts_the_admission_environment() {
    let names = WebhookNames::new(&Owner {
        model: "prod".into(),
        app: "image-backup".into(),
    });
    let layer = workload::layer(&WorkloadSpec {
        settings: &settings(),
        namespace: "prod",
        with_credentials: false,
    });
    let layer = workload::with_admission(layer, AdmissionMode::Failover, &names);
    let (_, matches) = controller_config(&layer.services[SERVICE].environment);
    let raw = |id: &str| {
        let values = matches.get_raw(id).unwrap_or_else(|| panic!("no --{id}"));
        values
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(raw("admission"), ["failover"]);
    assert_eq!(raw("webhook_addr"), ["0.0.0.0:9443"]);
    assert_eq!(raw("webhook_service"), [names.service.as_str()]);
    assert_eq!(raw("webhook_configuration"), [names.configuration.as_str()]);
    assert_eq!(raw("webhook_secret"), [names.secret.as_str()]);
}

#[test]
fn the_controller_accepts_the_layer_environment() {
    let settings = settings();
    let layer = workload::layer(&WorkloadSpec {
        settings: &settings,
        namespace: "prod",
        with_credentials: true,
    });
    let env = &layer.services[SERVICE].environment;
    assert_eq!(
        env[workload::CREDENTIALS_FILE_ENV],
        workload::CREDENTIALS_PATH
    );
    // The file as the charm writes it, where the test can put it.
    let credentials = RegistryCredentials::from_secret(
        &[("username", "robot"), ("password", "s3cret")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(
        &file,
        credentials.docker_config_json(settings.registry_host()),
    )
    .unwrap();

    let mut env = env.clone();
    env.insert(
        workload::CREDENTIALS_FILE_ENV.into(),
        file.to_str().unwrap().into(),
    );
    let (config, _) = controller_config(&env);
    assert_eq!(
        config.naming,
        image_backup_copier::BackupNaming::preserving("registry.example.com:5000", Some("backups"))
            .unwrap()
    );
    assert_eq!(
        config.rollout,
        image_backup_controller::context::RolloutMode::Rollout
    );
    assert_eq!(config.namespace, "prod");
    assert_eq!(
        config.exclude_namespaces,
        ["kube-system", "monitoring", "prod"]
    );
    assert_eq!(config.concurrency, 8);
    assert_eq!(config.recheck_interval.as_secs(), 2 * 86_400);
    assert_eq!(config.metrics_addr.port(), workload::METRICS_PORT);
    assert_eq!(config.grpc_addr.port(), workload::GRPC_PORT);
    assert!(config.leader_election);
    let parsed = image_backup_copier::CredentialStore::from_dockerconfigjson_secret(
        &config
            .registry_credentials
            .expect("the credentials file is read")
            .0,
    )
    .unwrap();
    assert_eq!(
        parsed.get("registry.example.com:5000"),
        Some(&image_backup_copier::Credentials::basic("robot", "s3cret"))
    );
}
