//! `cargo xtask pack [--charm NAME]... [--debug] [--host] [--out DIR]`
//! `cargo xtask image [--layout DIR | --push REF] [--tag TAG] [--insecure] [--authfile PATH] [--debug]`
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use xtask::image::{self, ImageArgs};
use xtask::{Build, Workspace, pack};

#[derive(Parser)]
#[command(about = "Build tooling for the charm suite")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the charm binaries and write one .charm per charm into dist/.
    Pack {
        /// Pack only this charm (charm or crate name); repeatable.
        #[arg(long = "charm", value_name = "NAME")]
        charms: Vec<String>,
        /// Debug build: quicker to build, for tests.
        #[arg(long)]
        debug: bool,
        /// Build for the host instead of musl (dynamic binary, local tests only).
        #[arg(long)]
        host: bool,
        /// Output directory (default: dist/ at the workspace root).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Build the image-backup controller's OCI image (static binary, FROM scratch), as an OCI
    /// layout (default: dist/controller-image/) or pushed to a registry.
    Image(ImageArgs),
}

fn main() -> Result<()> {
    let command = Cli::parse().command;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let ws = Workspace::load(&cwd)?;
    match command {
        Cmd::Pack {
            charms,
            debug,
            host,
            out,
        } => pack_charms(&ws, &charms, debug, host, out),
        Cmd::Image(args) => image::image(&ws, &args.options(&ws)),
    }
}

fn pack_charms(
    ws: &Workspace,
    charms: &[String],
    debug: bool,
    host: bool,
    out: Option<PathBuf>,
) -> Result<()> {
    let selected = ws.select(charms)?;
    if selected.is_empty() {
        println!("no charms in the workspace: no crate has a charmcraft.yaml yet");
        return Ok(());
    }
    let out = out.unwrap_or_else(|| ws.root.join("dist"));
    let build = Build {
        release: !debug,
        host,
        target_dir: None,
    };
    for charm in selected {
        let binary = build.binary(ws, &charm)?;
        for file in pack(&charm.dir, &binary, &out, !host)? {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!("{} ({} KiB)", file.display(), size / 1024);
        }
    }
    Ok(())
}
