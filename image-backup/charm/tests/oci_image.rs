//! The workload image: reproducible, readable by skopeo as an OCI layout, pushed to a real
//! registry (Debian's `docker-registry`) and read back.

use std::path::PathBuf;
use std::process::Command;

use image_backup_charm::oci_image::{self, ImageInputs, LAYER_MEDIA_TYPE};
use image_backup_copier::testing::{TestRegistry, test_client};
use image_backup_copier::{Digest, registry::Repository};

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

fn inputs() -> ImageInputs {
    let exe = elf();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, PEM).unwrap();
    ImageInputs::from_files(&exe, &ca).unwrap()
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
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, PEM).unwrap();
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

fn skopeo() -> Option<PathBuf> {
    let found = Command::new("skopeo").arg("--version").output().is_ok();
    found.then(|| PathBuf::from("skopeo"))
}

#[test]
fn skopeo_reads_the_layout() {
    let Some(skopeo) = skopeo() else {
        panic!("skopeo is needed as the oracle: apt-get install -y skopeo");
    };
    let image = oci_image::build(&inputs()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    image.write_layout(dir.path(), "dev").unwrap();
    let out = Command::new(skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:dev", dir.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Digest::sha256(&out.stdout), image.digest());
    let out = Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci:{}:dev", dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
