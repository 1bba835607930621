//! `image-backup`: copy images, print backup names, run the controller.

mod args;
mod backup_ref;
mod copy;
mod exit;
mod progress;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before anything can build a TLS client: ring is the one provider in this build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMAGE_BACKUP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    exit::run(cli)
}
