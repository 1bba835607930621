//! The `image-backup controller ...` subcommands, for the `image-backup` binary to mount:
//!
//! ```text
//! image-backup controller run --backup-registry HOST[:PORT][/PREFIX] [--namespace NS] ...
//! image-backup controller crd > crd.yaml
//! ```

use std::process::ExitCode;

use crate::config::{Args, ControllerConfig};

#[derive(clap::Subcommand, Debug)]
pub enum ControllerCommand {
    /// Run the controller (every flag can also be set as IMAGE_BACKUP_<FLAG>).
    Run(Box<Args>),
    /// Print the ImageBackup CustomResourceDefinition as YAML.
    Crd,
}

/// Runs a subcommand. Exit codes: 0 done (SIGTERM), 1 failure while running (a lost lease
/// included: the process is meant to be restarted), 2 bad configuration.
pub async fn execute(command: ControllerCommand) -> ExitCode {
    match command {
        ControllerCommand::Crd => match crate::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("image-backup controller crd: {e}");
                ExitCode::from(1)
            }
        },
        ControllerCommand::Run(args) => {
            let config = match ControllerConfig::try_from(*args) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("image-backup controller run: {e}");
                    return ExitCode::from(2);
                }
            };
            match crate::run::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // One line that says it all, through the log (text or JSON) like the rest.
                    tracing::error!("image-backup controller run: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ControllerCommand,
    }

    #[test]
    fn parses_both_subcommands() {
        assert!(matches!(
            Cli::try_parse_from(["x", "crd"]).unwrap().command,
            ControllerCommand::Crd
        ));
        let run = Cli::try_parse_from(["x", "run", "--backup-registry", "r.local:5000"]).unwrap();
        assert!(
            matches!(run.command, ControllerCommand::Run(args) if args.backup_registry == "r.local:5000")
        );
        assert!(
            Cli::try_parse_from(["x", "run"]).is_err(),
            "--backup-registry is required"
        );
    }

    /// `deploy/deployment.yaml` parses as a Deployment, its command line is one the CLI
    /// accepts, and it has the probes and the pod name the docs promise.
    #[test]
    fn example_deployment_is_valid() {
        use k8s_openapi::api::apps::v1::Deployment;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deployment.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let deployment: Deployment = serde_yaml::from_str(&text).unwrap();
        let pod = deployment.spec.unwrap().template.spec.unwrap();
        let container = &pod.containers[0];
        assert_eq!(
            container.command.as_deref(),
            Some(&["/usr/bin/image-backup".to_string()][..])
        );
        // What the `image-backup` binary parses: its global flags, then `controller ...`.
        let args = container.args.clone().unwrap();
        let at = args.iter().position(|a| a == "controller").unwrap();
        assert_eq!(args[..at], ["--log-format=json"]);
        let mut argv = vec!["image-backup".to_string()];
        argv.extend_from_slice(&args[at + 1..]);
        let Cli {
            command: ControllerCommand::Run(run),
        } = Cli::try_parse_from(&argv).unwrap()
        else {
            panic!("not `controller run`: {argv:?}");
        };
        ControllerConfig::try_from(*run).unwrap();

        let env = container.env.as_ref().unwrap();
        let pod_name = env.iter().find(|e| e.name == "POD_NAME").unwrap();
        let field = pod_name.value_from.as_ref().unwrap().field_ref.as_ref();
        assert_eq!(field.unwrap().field_path, "metadata.name");
        let probe_path = |probe: Option<&k8s_openapi::api::core::v1::Probe>| {
            probe
                .and_then(|p| p.http_get.as_ref())
                .and_then(|h| h.path.clone())
        };
        assert_eq!(
            probe_path(container.liveness_probe.as_ref()).as_deref(),
            Some("/healthz")
        );
        assert_eq!(
            probe_path(container.readiness_probe.as_ref()).as_deref(),
            Some("/readyz")
        );
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("image-backup-controller"),
            "the account of deploy/rbac.yaml"
        );
    }

    #[tokio::test]
    async fn bad_configuration_exits_2() {
        let run = Cli::try_parse_from(["x", "run", "--backup-registry", "Not A Host"]).unwrap();
        assert_eq!(execute(run.command).await, ExitCode::from(2));
    }
}
