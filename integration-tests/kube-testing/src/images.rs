//! Images the tests' pods can run, built without Docker or Docker Hub, and the registries
//! they are pushed to.
//!
//! The binaries are built static for musl with `cargo xtask`'s own build code, in a target
//! directory of their own (`<target>/kube-testing`): the `cargo test` running us holds the
//! lock of the normal one. They are packed FROM scratch by the image-backup charm's image
//! builder (`oci_image`, what `cargo xtask image` runs), which puts the binary at
//! `/usr/bin/image-backup` as the entrypoint. So a test image of `test-pause` runs `test-pause`
//! whatever arguments a pod passes, and `--exit` makes it an init container that succeeds.
//! Each image gets its own digest from a comment naming it, appended to the CA bundle the
//! builder packs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image_backup_charm::oci_image::{self, HOST_CA_CERTIFICATES, ImageInputs, OciImage};
use image_backup_copier::Reference;
use image_backup_copier::registry::{Client, ClientOptions};

/// The variable naming a registry both the tests and the cluster's nodes reach, over plain
/// HTTP (microk8s' registry addon: `localhost:32000`).
pub const CLUSTER_REGISTRY_ENV: &str = "TEST_CLUSTER_REGISTRY";

/// The argument that makes `test-pause` exit 0 at once (init containers).
pub const EXIT_ARG: &str = "--exit";

/// A registry to push test images to, spoken to over plain HTTP.
#[derive(Clone)]
pub struct Registry {
    host: String,
    client: Client,
}

/// An image pushed to a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// `<host>/kube-testing/<name>:v1`.
    pub reference: String,
    /// The manifest's digest, `sha256:...`.
    pub digest: String,
}

impl Registry {
    /// The registry `TEST_CLUSTER_REGISTRY` names, or why there is none.
    pub fn from_env() -> Result<Self, String> {
        let host = std::env::var(CLUSTER_REGISTRY_ENV).unwrap_or_default();
        let host = host.trim().trim_end_matches('/');
        if host.is_empty() {
            return Err(format!(
                "{CLUSTER_REGISTRY_ENV} is not set, so there is no registry the cluster's nodes pull \
                 test images from (microk8s: `microk8s enable registry`, then \
                 {CLUSTER_REGISTRY_ENV}=localhost:32000)"
            ));
        }
        Self::new(host)
    }

    /// The registry at `host` (`host[:port]`).
    pub fn new(host: &str) -> Result<Self, String> {
        let client = Client::new(ClientOptions {
            insecure_registries: vec![host.to_owned()],
            ..ClientOptions::default()
        })
        .map_err(|e| format!("a registry client for {host}: {e}"))?;
        Ok(Registry {
            host: host.to_owned(),
            client,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Pushes `image` as `<host>/kube-testing/<name>:v1`.
    pub async fn push(&self, name: &str, image: &OciImage) -> Result<Pushed, String> {
        let text = format!("{}/kube-testing/{name}:v1", self.host);
        let reference = Reference::parse(&text).map_err(|e| format!("{text}: {e}"))?;
        let digest = image
            .push(&self.client, &reference)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Pushed {
            reference: text,
            digest: digest.to_string(),
        })
    }

    /// Builds the `test-pause` image `name` and pushes it (see the module's docs).
    pub async fn push_pause(&self, name: &str) -> Result<Pushed, String> {
        let image = pause_image(name)?;
        self.push(name, &image).await
    }
}

/// The `test-pause` image named `name`: its own digest, the same on every run.
pub fn pause_image(name: &str) -> Result<OciImage, String> {
    static BINARY: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let binary = BINARY
        .get_or_init(|| {
            let path = stripped(&build_static("test-pause", "test-pause")?);
            std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))
        })
        .clone()?;
    let mut ca_certificates = std::fs::read(HOST_CA_CERTIFICATES).unwrap_or_default();
    ca_certificates.extend_from_slice(format!("\n# kube-testing test image {name}\n").as_bytes());
    oci_image::build(&ImageInputs {
        binary,
        ca_certificates,
    })
    .map_err(|e| format!("building image {name}: {e}"))
}

/// The image `cargo xtask image --debug` builds from `bin` of `package` (for the image-backup
/// CLI: the controller's image), its debug info stripped when `strip` is at hand (a debug
/// build is ten times the size).
pub fn static_image(package: &str, bin: &str) -> Result<OciImage, String> {
    let binary = stripped(&build_static(package, bin)?);
    let inputs = ImageInputs::from_files(&binary, Path::new(HOST_CA_CERTIFICATES))
        .map_err(|e| e.to_string())?;
    oci_image::build(&inputs).map_err(|e| format!("building the image of {bin}: {e}"))
}

/// `binary` without its debug info when `strip` is at hand, else `binary` itself.
fn stripped(binary: &Path) -> PathBuf {
    let out = binary.with_extension("stripped");
    let strip = std::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(binary)
        .status();
    if strip.is_ok_and(|s| s.success()) {
        out
    } else {
        binary.to_owned()
    }
}

/// `bin` of `package` built static for musl (debug profile) in `<target>/kube-testing`;
/// returns its path. Checked to be self-contained: it goes into a FROM-scratch image.
pub fn build_static(package: &str, bin: &str) -> Result<PathBuf, String> {
    let ws = xtask::Workspace::load(Path::new(env!("CARGO_MANIFEST_DIR")))
        .map_err(|e| format!("reading the workspace: {e:#}"))?;
    let build = xtask::Build {
        release: false,
        host: false,
        target_dir: Some(ws.target_dir.join("kube-testing")),
    };
    let path = build
        .bin(&ws, package, bin)
        .map_err(|e| format!("building {bin} for musl: {e:#}"))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    xtask::elf::check_static(&bytes)
        .map_err(|e| format!("{} cannot run FROM scratch: {e:#}", path.display()))?;
    Ok(path)
}
