//! `charmcraft pack` and `cargo xtask pack` side by side, for every charm of the workspace.
//!
//! charmcraft cannot pack here (no LXD, and a Debian host refuses `--destructive-mode`), so
//! its steps run one by one with its own code (`support/charmcraft_steps.py`): craft-parts'
//! rust plugin says which commands the part's build runs, craft-parts' organize and filesets
//! prime the result, charmcraft's package service writes the YAML files and its `build_zip`
//! zips them. Only the pull step (rustup, apt) and the build environment are not reproduced.
//!
//! - [`every_charm_gets_the_same_files_both_ways`] (quick): the build is checked as the
//!   command the plugin runs (same crate, binary, target, lock), and one stand-in binary
//!   goes through both packings, which must give the same files, modes and data.
//! - [`heavy_release_build_by_the_rust_plugin_is_xtask_s_dispatch`] (minutes per charm, so
//!   opt-in: `cargo test -p xtask --test charmcraft -- --ignored`): the plugin's build script
//!   runs for real in a copy of the workspace as craft-parts pulls it, and its `dispatch` is
//!   compared with xtask's release build.
//!
//! Both need charmcraft's Python: `CHARMCRAFT=/path/to/venv/bin/charmcraft` (`.ci/run` sets
//! it) or a venv's `charmcraft` on `PATH`; without it they print SKIPPED and pass.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Charmcraft, assert_same_charm, platforms, without_cargo_test_env};
use xtask::pack::MUSL_TARGET;
use xtask::{Build, CharmCrate, Workspace, elf, pack};

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ws = Workspace::load(root).unwrap();
    assert!(
        ws.charms.len() >= 3,
        "the workspace's charms: {:?}",
        ws.charms
    );
    ws
}

fn charmcraft(what: &str) -> Option<Charmcraft> {
    let found = Charmcraft::find();
    if found.is_none() {
        println!(
            "SKIPPED {what}: no charmcraft venv (set CHARMCRAFT=/path/to/venv/bin/charmcraft, \
             `pip install charmcraft` in a venv)"
        );
    }
    found
}

/// The `cargo install` line craft-parts' rust plugin runs for `charm`, as it must read for
/// the two builds to agree: the crate at its place in the workspace, release (cargo
/// install's default), the lock file as it is, the musl target, xtask's dispatch binary.
fn expected_install(ws: &Workspace, charm: &CharmCrate, install_dir: &Path) -> String {
    let path = charm
        .dir
        .strip_prefix(&ws.root)
        .unwrap()
        .display()
        .to_string();
    format!(
        "cargo install -f --locked --path \"{path}\" --root \"{}\" --target {MUSL_TARGET} --bin {}\n",
        install_dir.display(),
        charm.bin
    )
}

#[test]
fn every_charm_gets_the_same_files_both_ways() {
    let Some(charmcraft) = charmcraft("charmcraft's and xtask's charm files side by side") else {
        return;
    };
    let ws = workspace();
    let tmp = tempfile::tempdir().unwrap();
    for charm in &ws.charms {
        let stand_in = tmp.path().join(format!("{}-dispatch", charm.charm));
        fs::write(&stand_in, format!("stand-in dispatch of {}", charm.charm)).unwrap();
        let xtask_out = tmp.path().join(format!("{}-xtask", charm.charm));
        let ours = pack(&charm.dir, &stand_in, &xtask_out, false).unwrap();
        let platforms = platforms(&charm.dir);
        assert_eq!(ours.len(), platforms.len(), "one charm per platform");

        for (platform, ours) in platforms.iter().zip(&ours) {
            let work = tmp.path().join(format!("{}-{platform}", charm.charm));
            let install = work.join("install");
            let plan = charmcraft.plan(&charm.dir, platform, &install);
            assert_eq!(plan.source, ws.root, "{platform}: the part's source");
            assert_eq!(
                Some(plan.charm.as_str()),
                ours.file_name().and_then(|n| n.to_str()),
                "the file name"
            );
            assert!(
                plan.build_script
                    .contains(&expected_install(&ws, charm, &install)),
                "{}: the part must build what xtask packs:\n{}",
                charm.charm,
                plan.build_script
            );
            assert!(
                plan.build_packages.iter().any(|p| p == "musl-tools"),
                "ring needs musl-gcc: {:?}",
                plan.build_packages
            );
            // `cargo install --root R --bin B` leaves R/bin/B.
            fs::create_dir_all(install.join("bin")).unwrap();
            copy_executable(&stand_in, &install.join("bin").join(&charm.bin));
            let theirs = charmcraft.pack(&charm.dir, platform, &install, &work);
            assert_same_charm(&theirs, ours);
        }
    }
}

fn copy_executable(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
#[ignore = "heavy: release musl builds of every charm (minutes each); run with \
            `cargo test -p xtask --test charmcraft -- --ignored`"]
fn heavy_release_build_by_the_rust_plugin_is_xtask_s_dispatch() {
    let Some(charmcraft) = charmcraft("the rust plugin's release build") else {
        return;
    };
    let ws = workspace();
    // The plugin builds in `<copy>/target`; the workspace's own target directory spares it
    // the dependencies xtask's release build compiles too (the copy's crates are apart, their
    // path differs). A release musl build locks none of what the running `cargo test` holds.
    let target_dir = &ws.target_dir;
    for charm in &ws.charms {
        let platform = &platforms(&charm.dir)[0];
        let work = tempfile::tempdir().unwrap();
        let install = work.path().join("install");
        let plan = charmcraft.plan(&charm.dir, platform, &install);
        let build_dir = work.path().join("build");
        pull(&plan.source, &build_dir);

        let status = without_cargo_test_env(&mut Command::new("bash"))
            .arg("-c")
            .arg(&plan.build_script)
            .current_dir(&build_dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .unwrap();
        assert!(status.success(), "{}: the part's build failed", charm.charm);
        let dispatch = fs::read(install.join("bin").join(&charm.bin)).unwrap();
        elf::check_static(&dispatch).unwrap();
        let theirs = charmcraft.pack(&charm.dir, platform, &install, work.path());

        let build = Build::default();
        let binary = build.binary(&ws, charm).unwrap();
        let ours = pack(&charm.dir, &binary, &work.path().join("xtask"), true).unwrap();
        let ours = ours
            .iter()
            .find(|f| f.file_name() == theirs.file_name())
            .unwrap();
        assert_same_charm(&theirs, ours);
        println!(
            "{}: the rust plugin's dispatch is xtask's, byte for byte ({} KiB)",
            charm.charm,
            dispatch.len() / 1024
        );
    }
}

/// The pull step: craft-parts copies the source (hard links) into the part's directory,
/// leaving out charmcraft's ignore patterns at the top. `target/` is left out too: a copy
/// of it only spares cargo work, and this test gives cargo its own target directory.
fn pull(source: &Path, dest: &Path) {
    const IGNORED: &[&str] = &[".craft", ".venv", ".tox", "charmcraft.yaml", "target"];
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(source.to_owned(), dest.to_owned())];
    while let Some((from, to)) = stack.pop() {
        fs::create_dir_all(&to).unwrap();
        for entry in fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let top = from == source;
            let name_str = name.to_string_lossy();
            if top && (IGNORED.contains(&name_str.as_ref()) || name_str.ends_with(".charm")) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push((entry.path(), to.join(&name)));
            } else if kind.is_file() {
                fs::hard_link(entry.path(), to.join(&name))
                    .or_else(|_| fs::copy(entry.path(), to.join(&name)).map(drop))
                    .unwrap();
            }
        }
    }
}
