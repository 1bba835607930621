//! Running a command and turning its outcome into an exit code.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | unexpected internal failure |
//! | 2 | bad input: arguments, references, credentials files (clap's usage errors too) |
//! | 3 | authentication or authorisation failure |
//! | 4 | image, tag or blob not found |
//! | 5 | transfer failure: network, registry errors, corrupted content |

use std::process::ExitCode;

use image_backup_copier::ErrorKind;

use crate::args::{Cli, Command};

pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 2,
        ErrorKind::Auth => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::Transfer => 5,
    }
}

/// Runs the command; errors are printed (as JSON with `--json`) and mapped to exit codes.
pub fn run(cli: Cli) -> ExitCode {
    let json = matches!(&cli.command, Command::Copy(args) if args.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("image-backup: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let command = match cli.command {
        // The controller has its own errors and exit codes (0, 1, 2 for bad configuration).
        Command::Controller { command } => {
            return runtime.block_on(image_backup_controller::command::execute(command));
        }
        other => other,
    };
    let result = runtime.block_on(async {
        match command {
            Command::Copy(args) => crate::copy::run(args).await,
            Command::BackupRef(args) => crate::backup_ref::run(args),
            // Returned from above.
            Command::Controller { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let kind = error.kind();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "error": error.to_string(), "kind": kind })
                );
            } else {
                eprintln!("image-backup: {error}");
            }
            ExitCode::from(code(kind))
        }
    }
}
