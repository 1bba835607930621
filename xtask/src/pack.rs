//! Finding the charm crates, building their binaries, and writing the `.charm` files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::archive::{self, Entry};
use crate::{charmcraft, elf};

/// The target the shipped binaries are built for: static, runs on every Ubuntu base.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// Files copied from the crate directory into the charm when present: only what Juju reads
/// (the dashboard shows the icon). A README or LICENSE would be dead weight in every unit,
/// and charmcraft's parts do not prime them either: both builds give the same files.
const EXTRA_FILES: &[&str] = &["icon.svg"];

/// A crate that is a charm: it has a `charmcraft.yaml`.
#[derive(Debug, Clone)]
pub struct CharmCrate {
    pub package: String,
    pub dir: PathBuf,
    /// The binary target that becomes `dispatch`.
    pub bin: String,
    /// The charm name from `charmcraft.yaml`.
    pub charm: String,
}

/// The workspace as `cargo metadata` describes it.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub charms: Vec<CharmCrate>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// The cargo that runs us (`$CARGO`), else the one on `PATH`, without the variables cargo
/// set for running us.
///
/// Build scripts such as ring's declare `rerun-if-env-changed=CARGO_PKG_NAME` (and the
/// manifest dir, version...), which cargo compares against its own environment: inherited
/// from `cargo xtask`, they differ from a plain `cargo build`'s, and every switch between the
/// two rebuilt ring and all that depends on it.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Variables cargo sets for the package it runs (not configuration such as `CARGO_HOME`,
/// `CARGO_TARGET_DIR` or `CARGO_PROFILE_*`, which a nested build must keep).
fn set_by_cargo_run(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || [
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .contains(&name)
}

impl Workspace {
    /// Reads the workspace that contains `dir`.
    pub fn load(dir: &Path) -> Result<Workspace> {
        let mut cmd = cargo();
        cmd.args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(dir);
        Workspace::from_metadata(cmd)
    }

    /// Reads the workspace of the crate or workspace `manifest` (a `Cargo.toml`), which may
    /// lie outside this repository (a crate from `cargo xtask new-charm`).
    pub fn load_manifest(manifest: &Path) -> Result<Workspace> {
        let mut cmd = cargo();
        cmd.args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest);
        Workspace::from_metadata(cmd).with_context(|| format!("reading {}", manifest.display()))
    }

    /// Runs `cargo metadata` (`cmd`) and finds the charm crates.
    fn from_metadata(mut cmd: Command) -> Result<Workspace> {
        let output = cmd.output().context("running cargo metadata")?;
        if !output.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let meta: Metadata =
            serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
        let mut charms = Vec::new();
        for package in &meta.packages {
            if !meta.workspace_members.contains(&package.id) {
                continue;
            }
            let dir = package
                .manifest_path
                .parent()
                .context("manifest path has no directory")?
                .to_owned();
            if !dir.join("charmcraft.yaml").is_file() {
                continue;
            }
            let bin = dispatch_bin(package)?;
            let charm = charmcraft::load(&dir)?.name;
            charms.push(CharmCrate {
                package: package.name.clone(),
                dir,
                bin,
                charm,
            });
        }
        charms.sort_by(|a, b| a.charm.cmp(&b.charm));
        Ok(Workspace {
            root: meta.workspace_root,
            target_dir: meta.target_directory,
            charms,
        })
    }

    /// The charms named (by charm or package name), or all when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<CharmCrate>> {
        if names.is_empty() {
            return Ok(self.charms.clone());
        }
        names
            .iter()
            .map(|n| {
                self.charms
                    .iter()
                    .find(|c| &c.charm == n || &c.package == n)
                    .cloned()
                    .with_context(|| {
                        let known: Vec<&str> =
                            self.charms.iter().map(|c| c.charm.as_str()).collect();
                        if known.is_empty() {
                            format!(
                                "no charm {n:?}: no crate in the workspace has a charmcraft.yaml"
                            )
                        } else {
                            format!(
                                "no charm {n:?} in the workspace (charms: {})",
                                known.join(", ")
                            )
                        }
                    })
            })
            .collect()
    }
}

/// The convention: `[package.metadata.charm] bin = "NAME"`, else the crate's only binary.
fn dispatch_bin(package: &Package) -> Result<String> {
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k == "bin"))
        .map(|t| t.name.as_str())
        .collect();
    let declared = package
        .metadata
        .as_ref()
        .and_then(|m| m.get("charm"))
        .and_then(|c| c.get("bin"));
    match declared {
        Some(serde_json::Value::String(bin)) => {
            if !bins.contains(&bin.as_str()) {
                bail!(
                    "{}: [package.metadata.charm] bin = {bin:?}, but the crate's binaries are [{}]",
                    package.name,
                    bins.join(", ")
                );
            }
            Ok(bin.clone())
        }
        Some(other) => bail!(
            "{}: [package.metadata.charm] bin must be a string, got {other}",
            package.name
        ),
        None => match bins.as_slice() {
            [only] => Ok((*only).to_owned()),
            [] => bail!(
                "{}: has charmcraft.yaml but no [[bin]] target to use as dispatch",
                package.name
            ),
            many => bail!(
                "{}: several binaries ({}); name the dispatch one with [package.metadata.charm] bin = \"...\"",
                package.name,
                many.join(", ")
            ),
        },
    }
}

/// How to build the charm binaries.
#[derive(Debug, Clone)]
pub struct Build {
    /// `release` (shipped) or `dev` (quick, for tests).
    pub release: bool,
    /// Build for the host instead of musl: quicker where the musl target is missing, but
    /// the binary is dynamically linked and only fit for local tests.
    pub host: bool,
    /// Overrides the workspace target directory (tests use their own to avoid waiting on
    /// the lock of the `cargo` that runs them).
    pub target_dir: Option<PathBuf>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            release: true,
            host: false,
            target_dir: None,
        }
    }
}

impl Build {
    /// Builds `charm`'s dispatch binary and returns its path.
    pub fn binary(&self, ws: &Workspace, charm: &CharmCrate) -> Result<PathBuf> {
        self.bin(ws, &charm.package, &charm.bin)
    }

    /// Builds the binary `bin` of `package` and returns its path.
    pub fn bin(&self, ws: &Workspace, package: &str, bin: &str) -> Result<PathBuf> {
        let mut cmd = cargo();
        cmd.current_dir(&ws.root)
            .args(["build", "--package", package, "--bin", bin]);
        if self.release {
            cmd.arg("--release");
        }
        if !self.host {
            cmd.args(["--target", MUSL_TARGET]);
        }
        let target_dir = self
            .target_dir
            .clone()
            .unwrap_or_else(|| ws.target_dir.clone());
        cmd.arg("--target-dir").arg(&target_dir);
        let status = cmd
            .status()
            .with_context(|| format!("running cargo build for {package}"))?;
        if !status.success() {
            let hint = if self.host {
                ""
            } else {
                // ring (rustls' crypto) compiles C for the target: it needs musl's gcc wrapper.
                " (is the musl target installed? `rustup target add x86_64-unknown-linux-musl`; \
                 crates with C code such as ring also need `apt-get install -y musl-tools`)"
            };
            bail!("building {package} failed{hint}");
        }
        let mut path = target_dir;
        if !self.host {
            path.push(MUSL_TARGET);
        }
        path.push(if self.release { "release" } else { "debug" });
        path.push(bin);
        Ok(path)
    }
}

/// Writes the `.charm` files of the project in `dir`, with `binary` as `dispatch`, into
/// `out_dir`. With `require_static` the binary must be self-contained. Returns the files.
pub fn pack(
    dir: &Path,
    binary: &Path,
    out_dir: &Path,
    require_static: bool,
) -> Result<Vec<PathBuf>> {
    let project = charmcraft::load(dir)?;
    let dispatch =
        std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    if require_static {
        elf::check_static(&dispatch)
            .with_context(|| format!("{} cannot run on the charm's bases", binary.display()))?;
    }
    let mut entries = vec![
        Entry::executable("dispatch", dispatch),
        Entry::file("metadata.yaml", project.metadata_yaml.clone()),
    ];
    if let Some(config) = &project.config_yaml {
        entries.push(Entry::file("config.yaml", config.clone()));
    }
    if let Some(actions) = &project.actions_yaml {
        entries.push(Entry::file("actions.yaml", actions.clone()));
    }
    for name in EXTRA_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            entries.push(Entry::file(name, data));
        }
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut written = Vec::new();
    for output in &project.outputs {
        let mut files = entries.clone();
        files.push(Entry::file("manifest.yaml", output.manifest_yaml()?));
        let path = out_dir.join(&output.file_name);
        archive::write(&path, files)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_cargo_drops_what_cargo_run_set_and_keeps_configuration() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_RELEASE_LTO",
            "PATH",
        ] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
        // This test runs under cargo, which set CARGO_PKG_NAME.
        let cmd = cargo();
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        assert!(
            removed.contains(&std::ffi::OsStr::new("CARGO_PKG_NAME")),
            "{removed:?}"
        );
    }
}
