//! `cargo xtask pack [--charm NAME]... [--manifest-path PATH] [--debug] [--host] [--out DIR]`
//! `cargo xtask image [--layout DIR | --push REF] [--tag TAG] [--insecure] [--authfile PATH] [--debug]`
//! `cargo xtask new-charm NAME [--kubernetes] [--path DIR] [--charm-core path:DIR|git:URL]`
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use xtask::image::{self, ImageArgs};
use xtask::new_charm::{CharmCoreSource, CharmName, Flavour, NewCharm};
use xtask::{Build, Workspace, pack};

#[derive(Parser)]
#[command(about = "Build tooling for the charm suite")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the charm binaries and write one .charm per charm and platform into dist/.
    Pack {
        /// Pack only this charm (charm or crate name); repeatable.
        #[arg(long = "charm", value_name = "NAME")]
        charms: Vec<String>,
        /// The Cargo.toml of the crate or workspace to pack, e.g. a crate from `new-charm`
        /// (default: the workspace of the current directory).
        #[arg(long, value_name = "PATH")]
        manifest_path: Option<PathBuf>,
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
    /// Start a new Rust charm: a standalone crate (its own workspace) with a reconcile-style
    /// charm, its state-transition tests, a charmcraft.yaml that builds it, and a README.
    NewCharm {
        /// The charm's name (Juju's rules: lowercase letters, digits and hyphens, starting
        /// with a letter); also the crate's and the binary's.
        name: CharmName,
        /// A Kubernetes charm with a workload container managed through Pebble (default: a
        /// machine charm).
        #[arg(long)]
        kubernetes: bool,
        /// The crate's directory, new or empty (default: ./NAME).
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Where charm-core comes from: `path:DIR` or `git:URL[?rev=SHA|?tag=TAG|?branch=B]`
        /// (default: this checkout's charm-core, as a path).
        #[arg(long, value_name = "SOURCE")]
        charm_core: Option<CharmCoreSource>,
    },
}

fn main() -> Result<()> {
    let command = Cli::parse().command;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    match command {
        Cmd::Pack {
            charms,
            manifest_path,
            debug,
            host,
            out,
        } => {
            let ws = match manifest_path {
                Some(manifest) => Workspace::load_manifest(&manifest)?,
                None => Workspace::load(&cwd)?,
            };
            pack_charms(&ws, &charms, debug, host, out)
        }
        Cmd::Image(args) => {
            let ws = Workspace::load(&cwd)?;
            image::image(&ws, &args.options(&ws))
        }
        Cmd::NewCharm {
            name,
            kubernetes,
            path,
            charm_core,
        } => {
            let new = NewCharm {
                dir: path.unwrap_or_else(|| cwd.join(name.as_str())),
                name,
                flavour: if kubernetes {
                    Flavour::Kubernetes
                } else {
                    Flavour::Machine
                },
                charm_core: charm_core.unwrap_or_else(CharmCoreSource::this_checkout),
            };
            let dir = new.generate()?;
            println!(
                "{}: a new {} charm. Next: cd {} && cargo test (see its README.md)",
                new.name,
                if kubernetes { "Kubernetes" } else { "machine" },
                dir.display()
            );
            Ok(())
        }
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
