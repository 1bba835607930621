//! The generated code under `src/gen/` is committed; this test regenerates it from the `.proto`
//! files into a temporary directory and fails when the committed copy differs.
//!
//! After changing a `.proto` file (or bumping prost/tonic), refresh the committed code with
//! `UPDATE_GENERATED=1 cargo test -p proto --test generated`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::{env, fs};

const PROTOS: &[&str] = &[
    "charms/backup/v1/backup.proto",
    "charms/image_backup/v1/relation.proto",
    "charms/image_backup/v1/service.proto",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the code generator exactly as the committed code was produced.
fn generate(out_dir: &Path) {
    let includes = [crate_dir().join("proto")];
    let descriptors = protox::compile(PROTOS, includes).expect("the .proto files compile");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        .out_dir(out_dir)
        .compile_fds(descriptors)
        .expect("code generation succeeds");
}

/// File name -> content of every `.rs` file in `dir`.
fn rust_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("directory is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, fs::read_to_string(&path).expect("file is readable"));
        }
    }
    files
}

#[test]
fn committed_generated_code_is_fresh() {
    let fresh_dir = tempfile::tempdir().expect("temp dir");
    generate(fresh_dir.path());
    let fresh = rust_files(fresh_dir.path());
    assert!(!fresh.is_empty(), "the generator produced no file");

    let committed_dir = crate_dir().join("src/gen");
    if env::var_os("UPDATE_GENERATED").is_some() {
        for (name, content) in &fresh {
            fs::write(committed_dir.join(name), content).expect("src/gen is writable");
        }
        for name in rust_files(&committed_dir).keys() {
            if !fresh.contains_key(name) {
                fs::remove_file(committed_dir.join(name)).expect("stale file is removable");
            }
        }
        return;
    }

    let committed = rust_files(&committed_dir);
    let names = |files: &BTreeMap<String, String>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "src/gen holds other files than the generator produces; \
         run `UPDATE_GENERATED=1 cargo test -p proto --test generated`"
    );
    for (name, content) in &fresh {
        assert!(
            committed[name] == *content,
            "src/gen/{name} is stale; run `UPDATE_GENERATED=1 cargo test -p proto --test generated`"
        );
    }
}
