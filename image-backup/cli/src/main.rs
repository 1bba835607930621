//! `image-backup`: copy images, print backup names, run the controller.
//!
//! ```text
//! image-backup copy SRC DST [--jobs N] [--platform os/arch ...] [--json]
//!                           [--src-creds USER:PASS] [--dest-creds USER:PASS] [--authfile PATH]
//!                           [--insecure-registry HOST ...] [--retries N] [--chunk-size BYTES]
//! image-backup backup-ref SRC (--registry HOST [--prefix PATH] | --compat BACKUP_REPOSITORY)
//! ```
//!
//! `copy` shows a progress bar when stderr is a terminal and prints a one-line summary (or,
//! with `--json`, the copier's report or `{"error", "kind"}`) on stdout. Credentials come from
//! the flags, their `IMAGE_BACKUP_*` environment variables, or a Docker `config.json`. Exit
//! codes are listed in `exit.rs`: 2 bad input, 3 auth, 4 not found, 5 transfer failure.
//! The copying itself is the `image-backup-copier` library; this crate only wires it up.

mod args;
mod backup_ref;
mod copy;
mod exit;
mod progress;

use std::io::IsTerminal;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before anything can build a TLS client: ring is the one provider in this build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = args::Cli::parse();
    init_logging(cli.log_format);
    exit::run(cli)
}

/// Logs to stderr at the `IMAGE_BACKUP_LOG` level: text, with colours only when stderr is a
/// terminal (`kubectl logs` and Pebble's log would show the escape codes), or JSON lines.
fn init_logging(format: args::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMAGE_BACKUP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        args::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        args::LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}
