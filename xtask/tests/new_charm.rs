//! `cargo xtask new-charm` end to end: a machine and a Kubernetes charm are generated into a
//! temporary directory (outside this workspace), their own tests run there, offline and with
//! the lock file as generated (`--locked`, as charmcraft's build runs cargo), and xtask packs
//! them (static musl debug build). With charmcraft's Python at hand (see `charmcraft.rs`),
//! charmcraft's packing of the same binary is held beside xtask's.
//!
//! The generated crates share one target directory under this workspace's, kept between
//! runs: charm-core's dependencies are built once per target (host for the tests, musl for
//! the charm), then only the small crates themselves.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{Charmcraft, assert_same_charm, platforms, without_cargo_test_env, zip_entries};
use xtask::pack::{MUSL_TARGET, cargo};
use xtask::{Workspace, elf};

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn generated_charms_build_test_and_pack() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target_dir = Workspace::load(root).unwrap().target_dir.join("new-charm");
    let xtask = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        without_cargo_test_env(&mut cmd)
            .args(args)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("CARGO_NET_OFFLINE", "true");
        cmd
    };
    let charmcraft = Charmcraft::find();
    if charmcraft.is_none() {
        println!(
            "SKIPPED charmcraft's packing of the generated charms: no charmcraft venv \
             (set CHARMCRAFT=/path/to/venv/bin/charmcraft)"
        );
    }
    let tmp = tempfile::tempdir().unwrap();

    for (name, flavour) in [("hello-machine", None), ("hello-k8s", Some("--kubernetes"))] {
        let dir = tmp.path().join(name);
        let dir_arg = dir.to_str().unwrap();
        let mut args = vec!["new-charm", name, "--path", dir_arg];
        args.extend(flavour);
        run(&mut xtask(&args));
        // A second run refuses to write over it.
        let refused = xtask(&args).output().unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("is not empty"));

        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        for command in [
            "cargo test",
            "charmcraft pack",
            "cargo xtask pack --manifest-path",
        ] {
            assert!(
                readme.contains(command),
                "README lacks {command}:\n{readme}"
            );
        }
        assert!(
            fs::read_to_string(dir.join(".gitignore"))
                .unwrap()
                .contains("/target")
        );

        // Generated code is as rustfmt writes it.
        run(cargo()
            .args(["fmt", "--check", "--manifest-path"])
            .arg(dir.join("Cargo.toml")));
        let tests = run(cargo()
            .args(["test", "--offline", "--locked", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir));
        let summary = String::from_utf8_lossy(&tests.stdout);
        assert!(summary.contains("test result: ok. 4 passed"), "{summary}");

        run(&mut xtask(&[
            "pack",
            "--debug",
            "--manifest-path",
            dir.join("Cargo.toml").to_str().unwrap(),
        ]));
        let platforms = platforms(&dir);
        for platform in &platforms {
            let charm = dir
                .join("dist")
                .join(format!("{name}_{}.charm", platform.replace(':', "-")));
            let entries = zip_entries(&charm);
            let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(
                names,
                ["config.yaml", "dispatch", "manifest.yaml", "metadata.yaml"]
            );
            let dispatch = &entries[1];
            assert_eq!(dispatch.1, 0o755);
            elf::check_static(&dispatch.2).unwrap();
            let metadata: serde_yaml::Value = serde_yaml::from_slice(&entries[3].2).unwrap();
            assert_eq!(metadata["name"].as_str(), Some(name));

            let Some(charmcraft) = &charmcraft else {
                continue;
            };
            let work = tmp.path().join(format!("{name}-{platform}"));
            let install = work.join("install");
            let plan = charmcraft.plan(&dir, platform, &install);
            assert_eq!(plan.source, dir, "a standalone crate is its own source");
            let expected = format!(
                "cargo install -f --locked --path \".\" --root \"{}\" --target {MUSL_TARGET} --bin {name}\n",
                install.display()
            );
            assert!(
                plan.build_script.contains(&expected),
                "{}",
                plan.build_script
            );
            fs::create_dir_all(install.join("bin")).unwrap();
            let binary = target_dir.join(MUSL_TARGET).join("debug").join(name);
            fs::copy(&binary, install.join("bin").join(name)).unwrap();
            let theirs = charmcraft.pack(&dir, platform, &install, &work);
            assert_same_charm(&theirs, &charm);
        }
    }
}
