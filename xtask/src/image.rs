//! `cargo xtask image`: the image-backup controller's workload image, built without Docker.
//!
//! Builds the `image-backup` CLI (which runs the controller) static for musl, checks that it
//! is self-contained (the image is `FROM scratch`: no libc, no loader), then runs the image
//! builder of the image-backup charm crate, the program `image-backup-oci-image` (cargo
//! feature `oci-image`), which writes an OCI layout or pushes to a registry. The builder runs
//! as a separate program so that xtask stays light: it links neither kube nor the charm.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};

use crate::elf;
use crate::pack::{Build, Workspace, cargo};

/// The package and binary that go into the image.
pub const CLI_PACKAGE: &str = "image-backup";
pub const CLI_BIN: &str = "image-backup";
/// The image builder: a binary of the charm crate behind a feature.
pub const BUILDER_PACKAGE: &str = "image-backup-charm";
pub const BUILDER_BIN: &str = "image-backup-oci-image";
pub const BUILDER_FEATURE: &str = "oci-image";

/// Where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI image layout directory.
    Layout(PathBuf),
    /// A registry reference (`registry/path[:tag]`).
    Push(String),
}

/// What `cargo xtask image` was asked for.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub output: Output,
    /// The tag; the builder defaults to the workspace version.
    pub tag: Option<String>,
    /// Plain HTTP to the push registry (loopback ones always are).
    pub insecure: bool,
    /// Docker config.json with the push registry's credentials.
    pub authfile: Option<PathBuf>,
    /// Release build of the binary (the image to ship), else debug (quicker, larger).
    pub release: bool,
}

/// `cargo xtask image`'s flags.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("output").args(["layout", "push"])))]
pub struct ImageArgs {
    /// Write an OCI image layout into DIR [default: dist/controller-image/].
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// Push to this repository (`registry/path[:tag]`), e.g. `localhost:32000/image-backup`.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// The tag [default: the workspace version].
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Reach the registry of REF over plain HTTP (loopback registries always are).
    // `requires` alone is met by `--layout`, another member of the output group.
    #[arg(long, requires = "push", conflicts_with = "layout")]
    pub insecure: bool,
    /// Docker config.json with the registry's credentials [default: Docker's own].
    #[arg(
        long,
        value_name = "PATH",
        requires = "push",
        conflicts_with = "layout"
    )]
    pub authfile: Option<PathBuf>,
    /// Debug build of the binary: quicker to build, larger image.
    #[arg(long)]
    pub debug: bool,
}

impl ImageArgs {
    pub fn options(self, ws: &Workspace) -> ImageOptions {
        let output = match (self.push, self.layout) {
            (Some(reference), _) => Output::Push(reference),
            (None, layout) => Output::Layout(layout.unwrap_or_else(|| default_layout(ws))),
        };
        ImageOptions {
            output,
            tag: self.tag,
            insecure: self.insecure,
            authfile: self.authfile,
            release: !self.debug,
        }
    }
}

/// The default output: `dist/controller-image/` beside the `.charm` files.
pub fn default_layout(ws: &Workspace) -> PathBuf {
    ws.root.join("dist").join("controller-image")
}

/// Builds the static binary and runs the image builder on it.
pub fn image(ws: &Workspace, options: &ImageOptions) -> Result<()> {
    let build = Build {
        release: options.release,
        host: false,
        target_dir: None,
    };
    let binary = build.bin(ws, CLI_PACKAGE, CLI_BIN)?;
    check_static(&binary)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut cmd = builder_command(ws, &binary, options, &cwd);
    let status = cmd
        .status()
        .with_context(|| format!("running cargo run for {BUILDER_BIN}"))?;
    if !status.success() {
        bail!("{BUILDER_BIN} failed ({status})");
    }
    Ok(())
}

/// Refuses a binary that needs anything from a system: the image has no libc.
fn check_static(binary: &Path) -> Result<()> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    elf::check_static(&bytes).with_context(|| {
        format!(
            "{} cannot run in a FROM scratch image (build it for {})",
            binary.display(),
            crate::pack::MUSL_TARGET
        )
    })
}

/// `cargo run` of the image builder with the options as its flags. Relative paths are the
/// user's (resolved against `cwd`): cargo runs in the workspace root.
pub fn builder_command(
    ws: &Workspace,
    binary: &Path,
    options: &ImageOptions,
    cwd: &Path,
) -> Command {
    let mut cmd = cargo();
    // Not `--quiet`: the first build of the builder takes minutes, and says so.
    cmd.current_dir(&ws.root).args([
        "run",
        "--package",
        BUILDER_PACKAGE,
        "--features",
        BUILDER_FEATURE,
        "--bin",
        BUILDER_BIN,
        "--",
    ]);
    cmd.arg("--binary").arg(binary);
    match &options.output {
        Output::Layout(dir) => cmd.arg("--layout").arg(cwd.join(dir)),
        Output::Push(reference) => cmd.args(["--push", reference]),
    };
    if let Some(tag) = &options.tag {
        cmd.args(["--tag", tag]);
    }
    if options.insecure {
        cmd.arg("--insecure");
    }
    if let Some(authfile) = &options.authfile {
        cmd.arg("--authfile").arg(cwd.join(authfile));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        Workspace {
            root: PathBuf::from("/src/ws"),
            target_dir: PathBuf::from("/src/ws/target"),
            charms: Vec::new(),
        }
    }

    fn options(output: Output) -> ImageOptions {
        ImageOptions {
            output,
            tag: None,
            insecure: false,
            authfile: None,
            release: true,
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The flags after `--`, as the builder sees them.
    fn builder_args(cmd: &Command) -> Vec<String> {
        let all = args(cmd);
        let dash = all.iter().position(|a| a == "--").unwrap();
        all[dash + 1..].to_vec()
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        image: ImageArgs,
    }

    fn parse(args: &[&str]) -> Result<ImageOptions, clap::Error> {
        use clap::Parser;
        let cli = Cli::try_parse_from(std::iter::once("image").chain(args.iter().copied()))?;
        Ok(cli.image.options(&ws()))
    }

    #[test]
    fn flags_to_options() {
        let default = parse(&[]).unwrap();
        assert_eq!(
            default.output,
            Output::Layout(PathBuf::from("/src/ws/dist/controller-image"))
        );
        assert!(default.release);
        assert_eq!(default.tag, None, "the builder's default: the version");
        let push = parse(&["--push", "localhost:5000/ib", "--insecure", "--debug"]).unwrap();
        assert_eq!(push.output, Output::Push("localhost:5000/ib".into()));
        assert!(push.insecure && !push.release);
        assert!(parse(&["--layout", "d", "--push", "r"]).is_err());
        assert!(parse(&["--insecure"]).is_err(), "--insecure is for --push");
        assert!(parse(&["--layout", "d", "--insecure"]).is_err());
        assert!(parse(&["--authfile", "a"]).is_err());
    }

    #[test]
    fn runs_the_builder_of_the_charm_crate_from_the_workspace_root() {
        let binary = Path::new("/src/ws/target/x86_64-unknown-linux-musl/release/image-backup");
        let layout = Output::Layout(default_layout(&ws()));
        let cmd = builder_command(&ws(), binary, &options(layout), Path::new("/home/me"));
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/src/ws")));
        let all = args(&cmd);
        assert_eq!(
            all[..8],
            [
                "run",
                "--package",
                "image-backup-charm",
                "--features",
                "oci-image",
                "--bin",
                "image-backup-oci-image",
                "--"
            ]
        );
        assert_eq!(
            builder_args(&cmd),
            [
                "--binary",
                binary.to_str().unwrap(),
                "--layout",
                "/src/ws/dist/controller-image"
            ]
        );
    }

    #[test]
    fn relative_paths_are_the_callers() {
        let mut opts = options(Output::Layout(PathBuf::from("out/img")));
        opts.authfile = Some(PathBuf::from("auth.json"));
        let cmd = builder_command(&ws(), Path::new("/b"), &opts, Path::new("/home/me"));
        assert_eq!(
            builder_args(&cmd),
            [
                "--binary",
                "/b",
                "--layout",
                "/home/me/out/img",
                "--authfile",
                "/home/me/auth.json"
            ]
        );
    }

    #[test]
    fn push_flags_are_passed_on() {
        let mut opts = options(Output::Push("registry.lan:5000/charms/image-backup".into()));
        opts.tag = Some("dev".into());
        opts.insecure = true;
        let cmd = builder_command(&ws(), Path::new("/b"), &opts, Path::new("/"));
        assert_eq!(
            builder_args(&cmd),
            [
                "--binary",
                "/b",
                "--push",
                "registry.lan:5000/charms/image-backup",
                "--tag",
                "dev",
                "--insecure"
            ]
        );
    }

    #[test]
    fn a_dynamic_binary_is_refused_naming_it() {
        // This test executable is built for the host (glibc): dynamically linked.
        let me = std::env::current_exe().unwrap();
        let err = format!("{:#}", check_static(&me).unwrap_err());
        assert!(err.contains(&me.display().to_string()), "{err}");
        assert!(err.contains("FROM scratch"), "{err}");
        assert!(err.contains("dynamically linked"), "{err}");
    }
}
