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

/// Runs a subcommand. Exit codes: 0 done, 1 failure while running, 2 bad configuration.
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
                    eprintln!("image-backup controller run: {e}");
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

    #[tokio::test]
    async fn bad_configuration_exits_2() {
        let run = Cli::try_parse_from(["x", "run", "--backup-registry", "Not A Host"]).unwrap();
        assert_eq!(execute(run.command).await, ExitCode::from(2));
    }
}
