//! The workload image: reproducible, readable by skopeo as an OCI layout, pushed to a real
//! registry (Debian's `docker-registry`) and read back; the same through the program
//! `image-backup-oci-image` that `cargo xtask image` runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

use image_backup_charm::oci_image::{self, ImageInputs, LAYER_MEDIA_TYPE};
use image_backup_copier::testing::{TestRegistry, test_client};
use image_backup_copier::{Digest, Reference, registry::Repository};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// A small ELF executable standing in for the static binary (what the image holds is
/// opaque to it).
fn elf() -> PathBuf {
    let path = PathBuf::from("/bin/true");
    assert!(
        path.is_file(),
        "/bin/true (coreutils) is the test's stand-in binary"
    );
    path
}

/// A PEM file in `dir`.
fn ca_file(dir: &Path) -> PathBuf {
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, PEM).unwrap();
    ca
}

fn inputs() -> ImageInputs {
    let dir = tempfile::tempdir().unwrap();
    ImageInputs::from_files(&elf(), &ca_file(dir.path())).unwrap()
}

#[test]
fn the_same_inputs_give_the_same_digest() {
    let inputs = inputs();
    let a = oci_image::build(&inputs).unwrap();
    let b = oci_image::build(&inputs).unwrap();
    assert_eq!(a, b);
    let mut other = inputs.clone();
    other.ca_certificates.push(b'\n');
    assert_ne!(oci_image::build(&other).unwrap().digest(), a.digest());
}

#[test]
fn inputs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("script");
    std::fs::write(&text, "#!/bin/sh\n").unwrap();
    let ca = ca_file(dir.path());
    let err = ImageInputs::from_files(&text, &ca).err().unwrap();
    assert!(err.to_string().contains("not an ELF executable"), "{err}");
    let exe = elf();
    let err = ImageInputs::from_files(&exe, &text).err().unwrap();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let err = ImageInputs::from_files(&exe, &dir.path().join("missing"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn the_layer_holds_the_binary_and_the_certificates() {
    let image = oci_image::build(&inputs()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer.tar.gz");
    std::fs::write(&layer, &image.layer).unwrap();
    let out = Command::new("tar")
        .arg("-tvzf")
        .arg(&layer)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let line = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} not in\n{listing}"))
            .to_string()
    };
    assert!(line("usr/bin/image-backup").starts_with("-rwxr-xr-x 0/0"));
    assert!(line("etc/ssl/certs/ca-certificates.crt").starts_with("-rw-r--r-- 0/0"));
    assert!(line("tmp/").starts_with("drwxrwxrwt 0/0"));

    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
    assert_eq!(
        manifest["layers"][0]["digest"],
        Digest::sha256(&image.layer).to_string()
    );
    let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        image.diff_id.to_string(),
        "diff id is the uncompressed layer's digest"
    );
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/image-backup");
}

/// `skopeo inspect ARGS oci:DIR:TAG`'s output; skopeo is the oracle for layouts.
fn skopeo_inspect(args: &[&str], dir: &Path, tag: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("inspect")
        .args(args)
        .arg(format!("oci:{}:{tag}", dir.display()))
        .output()
        .unwrap_or_else(|e| panic!("skopeo is the oracle ({e}): apt-get install -y skopeo"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_reads_the_layout() {
    let image = oci_image::build(&inputs()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    image.write_layout(dir.path(), "dev").unwrap();
    let manifest = skopeo_inspect(&["--raw"], dir.path(), "dev");
    assert_eq!(Digest::sha256(&manifest), image.digest());
    let config = skopeo_inspect(&["--config"], dir.path(), "dev");
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "amd64");
}

#[tokio::test]
async fn pushed_to_a_registry_with_its_digest() {
    let registry = TestRegistry::start();
    let client = test_client(&[&registry]);
    let image = oci_image::build(&inputs()).unwrap();
    let reference = registry.reference("charms/image-backup:dev");
    let digest = image.push(&client, &reference).await.unwrap();
    assert_eq!(digest, image.digest());

    let repo = Repository::from(&reference);
    let pulled = client
        .get_manifest(&repo, &reference.selector())
        .await
        .unwrap();
    assert_eq!(pulled.digest, image.digest());
    assert_eq!(pulled.bytes, image.manifest);

    // Pushing again is idempotent (blobs already there are skipped).
    assert_eq!(image.push(&client, &reference).await.unwrap(), digest);
}

// The program `cargo xtask image` runs.

/// Runs `image-backup-oci-image` with `args`, Docker's config looked up in an empty `home`.
fn program(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_image-backup-oci-image"))
        .args(args)
        .env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .output()
        .unwrap()
}

/// Stdout of a run that must succeed.
fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Stderr of a run that must fail.
fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// The digest the program printed.
fn printed_digest(stdout: &str) -> Digest {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("no digest line in\n{stdout}"));
    line.parse().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_program_writes_a_layout_skopeo_reads() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(dir.path());
    let layout = dir.path().join("layout");
    let exe = elf();
    let args = [
        "--binary",
        path(&exe),
        "--ca-certificates",
        path(&ca),
        "--layout",
        path(&layout),
        "--tag",
        "dev",
    ];
    let stdout = succeeds(&program(&args, dir.path()));
    let digest = printed_digest(&stdout);
    assert_eq!(digest, oci_image::build(&inputs()).unwrap().digest());
    assert!(
        stdout.contains("--resource controller-image="),
        "says how to deploy:\n{stdout}"
    );
    let manifest = skopeo_inspect(&["--raw"], &layout, "dev");
    assert_eq!(Digest::sha256(&manifest), digest);

    // Reproducible as a process too; without --tag the tag is the version.
    let stdout = succeeds(&program(&args[..6], dir.path()));
    assert_eq!(printed_digest(&stdout), digest);
    let manifest = skopeo_inspect(&["--raw"], &layout, env!("CARGO_PKG_VERSION"));
    assert_eq!(Digest::sha256(&manifest), digest);
}

#[test]
fn the_program_names_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(dir.path());
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let (exe, layout) = (elf(), dir.path().join("layout"));
    let (exe, script, ca, out) = (path(&exe), path(&script), path(&ca), path(&layout));
    let cases: [(&[&str], &str); 4] = [
        (
            &["--binary", script, "--ca-certificates", ca, "--layout", out],
            "script.sh is not an ELF executable",
        ),
        (
            &[
                "--binary",
                exe,
                "--ca-certificates",
                script,
                "--layout",
                out,
            ],
            "script.sh holds no PEM certificate",
        ),
        (&["--binary", exe, "--push", "Bad:ref"], "Bad:ref"),
        (
            &["--binary", exe, "--layout", out, "--tag", "no/slash"],
            "no/slash",
        ),
    ];
    for (args, expected) in cases {
        let err = fails(&program(args, dir.path()));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!layout.exists(), "nothing written on error");
}

#[tokio::test]
async fn the_program_pushes_with_docker_config_credentials() {
    let registry = TestRegistry::builder()
        .basic_auth("charmer", "s3cret")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(dir.path());
    let repository = format!("{}/charms/image-backup", registry.host());
    let exe = elf();
    let push = [
        "--binary",
        path(&exe),
        "--ca-certificates",
        path(&ca),
        "--push",
        &repository,
        "--tag",
        "dev",
    ];

    // Without credentials the registry refuses, and the error names it.
    let err = fails(&program(&push, dir.path()));
    assert!(err.contains(&registry.host()), "{err}");

    let auth = base64::engine::general_purpose::STANDARD.encode("charmer:s3cret");
    let config = dir.path().join("auth.json");
    let json = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        registry.host()
    );
    std::fs::write(&config, json).unwrap();
    let with_authfile = [&push[..], &["--authfile", path(&config)]].concat();
    let stdout = succeeds(&program(&with_authfile, dir.path()));
    let digest = printed_digest(&stdout);
    let tagged = format!("{repository}:dev");
    assert!(
        stdout.contains(&format!("--resource controller-image={tagged}")),
        "{stdout}"
    );

    let reference = Reference::parse(&tagged).unwrap();
    let pulled = test_client(&[&registry])
        .get_manifest(&Repository::from(&reference), &reference.selector())
        .await
        .unwrap();
    assert_eq!(pulled.digest, digest);

    // Docker's own config (~/.docker/config.json) is read by default.
    std::fs::create_dir_all(dir.path().join(".docker")).unwrap();
    std::fs::copy(&config, dir.path().join(".docker/config.json")).unwrap();
    let stdout = succeeds(&program(&push, dir.path()));
    assert_eq!(printed_digest(&stdout), digest);
}
