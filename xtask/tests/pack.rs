//! Packing a tiny charm crate in a temporary workspace: a real musl build, the static check,
//! the archive's contents and modes, byte-identical repacks, and the binary running as
//! `dispatch`.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use xtask::{Build, Workspace, pack};

const CHARMCRAFT: &str = r#"type: charm
name: demo
summary: A demo charm.
description: It echoes its hook.
requires:
  backup:
    interface: backup
config:
  options:
    fileset:
      type: string
actions:
  snapshot:
    description: Take one.
bases:
  - build-on:
      - name: ubuntu
        channel: "22.04"
    run-on:
      - name: ubuntu
        channel: "22.04"
      - name: ubuntu
        channel: "24.04"
parts:
  charm: {}
"#;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A workspace with one charm crate (`demo-charm`, binary `demo`) and one plain crate.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"charm\", \"plain\"]\n",
    );
    write(
        &root.join("charm/Cargo.toml"),
        "[package]\nname = \"demo-charm\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[package.metadata.charm]\nbin = \"demo\"\n\n[[bin]]\nname = \"demo\"\npath = \"src/main.rs\"\n\n[[bin]]\nname = \"helper\"\npath = \"src/helper.rs\"\n",
    );
    write(
        &root.join("charm/src/main.rs"),
        "fn main() { println!(\"dispatched {}\", std::env::var(\"JUJU_DISPATCH_PATH\").unwrap_or_default()); }\n",
    );
    write(&root.join("charm/src/helper.rs"), "fn main() {}\n");
    write(&root.join("charm/charmcraft.yaml"), CHARMCRAFT);
    write(&root.join("charm/README.md"), "# demo\n");
    write(
        &root.join("plain/Cargo.toml"),
        "[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    );
    write(&root.join("plain/src/lib.rs"), "");
    dir
}

#[test]
fn packs_a_static_charm_reproducibly() {
    let ws_dir = workspace();
    let ws = Workspace::load(ws_dir.path()).unwrap();
    assert_eq!(
        ws.charms.len(),
        1,
        "only the crate with charmcraft.yaml is a charm"
    );
    let charm = &ws.select(&["demo".into()]).unwrap()[0];
    assert_eq!(
        (charm.package.as_str(), charm.bin.as_str()),
        ("demo-charm", "demo")
    );
    assert!(ws.select(&["nope".into()]).is_err());

    let build = Build {
        release: false,
        host: false,
        target_dir: Some(ws_dir.path().join("target")),
    };
    let binary = build.binary(&ws, charm).unwrap();
    let out = ws_dir.path().join("dist");
    let files = pack(&charm.dir, &binary, &out, true).unwrap();
    assert_eq!(
        files,
        [out.join("demo_ubuntu-22.04-amd64_ubuntu-24.04-amd64.charm")]
    );
    let first = fs::read(&files[0]).unwrap();

    let listed: Vec<(String, u32)> = support::zip_entries(&files[0])
        .into_iter()
        .map(|(name, mode, _)| (name, mode))
        .collect();
    assert_eq!(
        listed,
        // The crate's README.md stays out: Juju does not read it.
        [
            ("actions.yaml".to_owned(), 0o644),
            ("config.yaml".into(), 0o644),
            ("dispatch".into(), 0o755),
            ("manifest.yaml".into(), 0o644),
            ("metadata.yaml".into(), 0o644),
        ]
    );
    let contents = support::zip_entries(&files[0]);
    let text = |name: &str| {
        String::from_utf8(contents.iter().find(|e| e.0 == name).unwrap().2.clone()).unwrap()
    };
    assert_eq!(
        text("metadata.yaml"),
        "name: demo\nsummary: A demo charm.\ndescription: It echoes its hook.\nrequires:\n  backup:\n    interface: backup\n"
    );
    assert_eq!(
        text("actions.yaml"),
        "snapshot:\n  description: Take one.\n"
    );
    assert!(text("manifest.yaml").contains("channel: '24.04'"));

    // Same inputs, same bytes.
    pack(&charm.dir, &binary, &out, true).unwrap();
    assert_eq!(fs::read(&files[0]).unwrap(), first);

    // The packed dispatch runs on its own, with nothing from the build environment.
    let unpacked = tempfile::tempdir().unwrap();
    integration_free_unpack(&files[0], unpacked.path());
    let output = Command::new(unpacked.path().join("dispatch"))
        .env_clear()
        .env("JUJU_DISPATCH_PATH", "hooks/install")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "dispatched hooks/install\n"
    );

    // A dynamically linked dispatch is refused.
    let host = Build {
        host: true,
        ..build
    };
    let dynamic = host.binary(&ws, charm).unwrap();
    let err = pack(&charm.dir, &dynamic, &out, true).unwrap_err();
    assert!(format!("{err:#}").contains("dynamically linked"), "{err:#}");
}

/// Unpacks with the modes recorded in the zip.
fn integration_free_unpack(charm: &Path, dest: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, mode, data) in support::zip_entries(charm) {
        let path = dest.join(name);
        fs::write(&path, data).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn a_charm_crate_must_say_which_binary_is_dispatch() {
    let ws_dir = workspace();
    let manifest = ws_dir.path().join("charm/Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace("[package.metadata.charm]\nbin = \"demo\"\n", ""),
    )
    .unwrap();
    let err = Workspace::load(ws_dir.path()).unwrap_err();
    assert!(
        format!("{err:#}").contains("several binaries (demo, helper)"),
        "{err:#}"
    );

    fs::write(
        &manifest,
        text.replace("bin = \"demo\"", "bin = \"missing\""),
    )
    .unwrap();
    let err = Workspace::load(ws_dir.path()).unwrap_err();
    assert!(format!("{err:#}").contains("bin = \"missing\""), "{err:#}");
}
