//! Shared by xtask's integration tests: reading `.charm` files, and charmcraft's own code
//! (through `charmcraft_steps.py`) for what `charmcraft pack` would put in them.
#![allow(dead_code)] // Each test file uses its own part of this module.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// Removes from `cmd`'s environment what cargo set for running this test, as xtask's own
/// nested cargo does (see `xtask::pack::cargo`): build scripts that watch `CARGO_PKG_*` would
/// otherwise rebuild between a build from here and one from xtask.
pub fn without_cargo_test_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in xtask::pack::cargo().get_envs().filter(|(_, v)| v.is_none()) {
        cmd.env_remove(name);
    }
    cmd
}

/// The entries of a zip: name, unix permission bits, contents; sorted by name.
pub fn zip_entries(charm: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let file = fs::File::open(charm).unwrap_or_else(|e| panic!("{}: {e}", charm.display()));
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut entries: Vec<_> = (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (
                f.name().unwrap().into_owned(),
                f.unix_mode().unwrap_or(0) & 0o777,
                data,
            )
        })
        .collect();
    entries.sort();
    entries
}

/// The platform names of a charmcraft.yaml, in file order.
pub fn platforms(project_dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(project_dir.join("charmcraft.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["platforms"]
        .as_mapping()
        .expect("charmcraft.yaml has platforms")
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// What the charm's part does in charmcraft's build, as craft-parts' rust plugin says.
#[derive(Debug, Deserialize)]
pub struct Plan {
    /// The part's source directory, absolute.
    pub source: PathBuf,
    /// The build step: the part's override-build with `craftctl default` running the plugin's
    /// commands; run it with bash in a copy of `source`.
    pub build_script: String,
    pub pull_commands: Vec<String>,
    pub build_packages: Vec<String>,
    /// The .charm file name charmcraft writes.
    pub charm: String,
}

/// charmcraft's Python (a venv's), to run `charmcraft_steps.py` with.
pub struct Charmcraft {
    python: PathBuf,
}

impl Charmcraft {
    /// `$CHARMCRAFT` (the `charmcraft` of a venv, as `.ci/run` sets it), else a venv's
    /// `charmcraft` on `PATH`; `None` without either (a snap's charmcraft has no Python we
    /// can import it from).
    pub fn find() -> Option<Charmcraft> {
        let executable = match std::env::var_os("CHARMCRAFT") {
            Some(path) => {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "CHARMCRAFT={} does not exist",
                    path.display()
                );
                path
            }
            None => std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("charmcraft"))
                .find(|p| p.is_file())?,
        };
        let python = executable.parent()?.join("python3");
        python.is_file().then_some(Charmcraft { python })
    }

    fn run(&self, args: &[&std::ffi::OsStr]) -> String {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/charmcraft_steps.py");
        let output = Command::new(&self.python)
            .arg(script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "charmcraft_steps.py {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn plan(&self, project_dir: &Path, platform: &str, install_dir: &Path) -> Plan {
        let out = self.run(&[
            "plan".as_ref(),
            project_dir.as_os_str(),
            platform.as_ref(),
            install_dir.as_os_str(),
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Organizes, stages and primes `install_dir` and packs it as charmcraft does, in
    /// `work_dir`; returns the .charm file.
    pub fn pack(
        &self,
        project_dir: &Path,
        platform: &str,
        install_dir: &Path,
        work_dir: &Path,
    ) -> PathBuf {
        let out = self.run(&[
            "pack".as_ref(),
            project_dir.as_os_str(),
            platform.as_ref(),
            install_dir.as_os_str(),
            work_dir.as_os_str(),
        ]);
        PathBuf::from(out.trim())
    }
}

/// Keys only charmcraft writes into manifest.yaml (Juju reads `bases`).
const CHARMCRAFT_ONLY_MANIFEST_KEYS: &[&str] = &["charmcraft-version", "charmcraft-started-at"];

/// Holds two charms side by side: the same files with the same modes, the same `dispatch`,
/// the same YAML data in each generated file (charmcraft sorts keys and folds lines its
/// own way, so the bytes differ) and the same manifest but for charmcraft's own stamps.
pub fn assert_same_charm(charmcraft: &Path, xtask: &Path) {
    let theirs = zip_entries(charmcraft);
    let ours = zip_entries(xtask);
    let listing = |e: &[(String, u32, Vec<u8>)]| -> Vec<(String, u32)> {
        e.iter().map(|(n, m, _)| (n.clone(), *m)).collect()
    };
    assert_eq!(
        listing(&theirs),
        listing(&ours),
        "files and modes: charmcraft's {} against xtask's {}",
        charmcraft.display(),
        xtask.display()
    );
    for ((name, _, a), (_, _, b)) in theirs.iter().zip(&ours) {
        if !name.ends_with(".yaml") {
            assert!(a == b, "{name} differs");
            continue;
        }
        let parse = |bytes: &[u8]| -> serde_yaml::Value {
            serde_yaml::from_slice(bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let (mut a, b) = (parse(a), parse(b));
        if name == "manifest.yaml" {
            let stamps = a.as_mapping_mut().unwrap();
            for key in CHARMCRAFT_ONLY_MANIFEST_KEYS {
                assert!(stamps.remove(*key).is_some(), "charmcraft writes {key}");
            }
        }
        assert_eq!(a, b, "{name}: charmcraft's data against xtask's");
    }
}
