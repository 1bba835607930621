//! Command line. Every option with an environment variable can come from either; flags win.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use image_backup_copier::{Platform, Reference};

#[derive(Parser, Debug)]
#[command(
    name = "image-backup",
    version,
    about = "Back up container images to a registry"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines on stderr as `text` (coloured only on a terminal) or `json` (one object per
    /// line, for log aggregators). The level comes from `IMAGE_BACKUP_LOG` (default `warn`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "IMAGE_BACKUP_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Copy an image (all platforms, same digest) from SRC to DST.
    Copy(CopyArgs),
    /// Print the backup reference of SRC.
    BackupRef(BackupRefArgs),
    /// Run the Kubernetes controller (`run`) or print its CRD (`crd`).
    Controller {
        #[command(subcommand)]
        command: image_backup_controller::command::ControllerCommand,
    },
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Source image, e.g. `nginx:1.25`, `quay.io/org/app@sha256:...`.
    #[arg(value_name = "SRC")]
    pub source: Reference,
    /// Destination; without a tag, SRC's tag is used (digest-only sources are pushed by digest).
    #[arg(value_name = "DST")]
    pub destination: Reference,
    /// Blobs transferred at once.
    #[arg(long, short = 'j', default_value_t = 4, env = "IMAGE_BACKUP_JOBS",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Copy only this platform (`os/arch[/variant]`), repeatable. The destination then gets a
    /// new index, with a different digest.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<Platform>,
    /// Print a JSON report (or error) on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Upload in chunks of this many bytes instead of one streamed request.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=1<<30))]
    pub chunk_size: Option<u64>,
}

#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Credentials for the source registry.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "IMAGE_BACKUP_SRC_CREDS",
        hide_env_values = true
    )]
    pub src_creds: Option<String>,
    /// Credentials for the destination registry.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "IMAGE_BACKUP_DEST_CREDS",
        hide_env_values = true
    )]
    pub dest_creds: Option<String>,
    /// Docker config.json with registry credentials [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json, if present].
    #[arg(long, value_name = "PATH", env = "IMAGE_BACKUP_AUTHFILE")]
    pub authfile: Option<PathBuf>,
    /// Registry (`host[:port]`) reached over plain HTTP; repeatable. Loopback ones always are.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST",
        env = "IMAGE_BACKUP_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Tries per request and per blob for transient failures.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub retries: u32,
}

#[derive(Args, Debug)]
pub struct BackupRefArgs {
    /// Source image.
    #[arg(value_name = "SRC")]
    pub source: Reference,
    /// Backup registry (`host[:port]`).
    #[arg(
        long,
        env = "IMAGE_BACKUP_REGISTRY",
        required_unless_present = "compat"
    )]
    pub registry: Option<String>,
    /// Path under the backup registry.
    #[arg(long, env = "IMAGE_BACKUP_PREFIX", conflicts_with = "compat")]
    pub prefix: Option<String>,
    /// Use the original controller's scheme with this BACKUP_REPOSITORY prefix
    /// (`docker.io/backupregistry/` makes `nginx:1` `docker.io/backupregistry/library_nginx:1`).
    #[arg(long, value_name = "BACKUP_REPOSITORY", conflicts_with = "registry")]
    pub compat: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_references_are_usage_errors_naming_the_value() {
        let err = Cli::try_parse_from(["image-backup", "copy", "Bad:ref", "x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("Bad:ref"), "{err}");
        let err = Cli::try_parse_from(["image-backup", "copy", "a", "b", "--platform", "linux"])
            .unwrap_err();
        assert!(err.to_string().contains("os/architecture"), "{err}");
        let err =
            Cli::try_parse_from(["image-backup", "copy", "a", "b", "--jobs", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn backup_ref_needs_a_scheme() {
        assert!(Cli::try_parse_from(["image-backup", "backup-ref", "nginx"]).is_err());
        assert!(
            Cli::try_parse_from([
                "image-backup",
                "backup-ref",
                "nginx",
                "--registry",
                "r",
                "--compat",
                "x/"
            ])
            .is_err()
        );
        let cli =
            Cli::try_parse_from(["image-backup", "backup-ref", "nginx", "--compat", "x/"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::BackupRef(BackupRefArgs {
                compat: Some(_),
                ..
            })
        ));
    }
}
