//! `image-backup-oci-image`: the controller's workload image from a static `image-backup`
//! binary, as an OCI layout or pushed to a registry (what `cargo xtask image` runs).
//!
//! ```text
//! image-backup-oci-image --binary PATH [--ca-certificates PATH]
//!                        (--layout DIR [--tag TAG] | --push REF [--tag TAG] [--insecure] [--authfile PATH])
//! ```
//!
//! Prints the manifest digest and the `--resource controller-image=...` value to deploy with.
//! A separate program so that build tooling need not link the charm (kube, tonic), and the
//! charm binary need not link the image builder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Parser};
use image_backup_charm::oci_image::{self, HOST_CA_CERTIFICATES, ImageInputs, OciImage};
use image_backup_copier::registry::Client;
use image_backup_copier::{ClientOptions, CredentialStore, Reference};

/// The tag when none is given: the version the image's binary was built at.
const DEFAULT_TAG: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser, Debug)]
#[command(
    name = "image-backup-oci-image",
    version,
    about = "Build the image-backup controller's OCI image (FROM scratch) from the static binary",
    group(ArgGroup::new("output").required(true).args(["layout", "push"]))
)]
struct Cli {
    /// The static (musl) `image-backup` executable.
    #[arg(long, value_name = "PATH")]
    binary: PathBuf,
    /// PEM CA certificates to put in the image.
    #[arg(long, value_name = "PATH", default_value = HOST_CA_CERTIFICATES)]
    ca_certificates: PathBuf,
    /// Write an OCI image layout into DIR (created if needed).
    #[arg(long, value_name = "DIR")]
    layout: Option<PathBuf>,
    /// Push to this repository (`registry/path[:tag]`); without a tag, TAG is used.
    #[arg(long, value_name = "REF")]
    push: Option<Reference>,
    /// The tag [default: the package version].
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// Reach the registry of REF over plain HTTP (loopback registries always are).
    // Not `requires = "push"`: clap lets a member of the output group stay missing when
    // another member is given.
    #[arg(long, conflicts_with = "layout")]
    insecure: bool,
    /// Docker config.json with registry credentials [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json, if present].
    #[arg(long, value_name = "PATH", conflicts_with = "layout")]
    authfile: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where the image goes, from the flags, checked before anything is built.
enum Target {
    Layout {
        dir: PathBuf,
        tag: String,
    },
    Push {
        reference: Reference,
        client: Client,
    },
}

fn target(cli: &Cli) -> Result<Target> {
    if let Some(reference) = &cli.push {
        let reference = push_reference(reference, cli.tag.as_deref())?;
        let options = client_options(&reference, cli.insecure, cli.authfile.as_deref())?;
        let client = Client::new(options)?;
        return Ok(Target::Push { reference, client });
    }
    let dir = cli
        .layout
        .clone()
        .context("--layout or --push is required")?;
    let tag = cli.tag.as_deref().unwrap_or(DEFAULT_TAG);
    check_tag(tag)?;
    Ok(Target::Layout {
        dir,
        tag: tag.to_owned(),
    })
}

fn run(cli: Cli) -> Result<()> {
    let target = target(&cli)?;
    let inputs = ImageInputs::from_files(&cli.binary, &cli.ca_certificates)?;
    let image = oci_image::build(&inputs)?;
    let layer = image.layer.len() as f64 / (1024.0 * 1024.0);
    match target {
        Target::Layout { dir, tag } => {
            image.write_layout(&dir, &tag)?;
            println!("wrote oci:{}:{tag} (layer {layer:.1} MiB)", dir.display());
            println!("digest: {}", image.digest());
            println!("push it to a registry the cluster pulls from, then deploy with it:");
            println!(
                "  skopeo copy oci:{}:{tag} docker://REGISTRY/image-backup:{tag}",
                dir.display()
            );
            println!(
                "  juju deploy ./dist/image-backup_ubuntu@22.04-amd64.charm --trust --resource controller-image=REGISTRY/image-backup:{tag}"
            );
        }
        Target::Push { reference, client } => {
            let digest = push(&image, &reference, &client)?;
            println!("pushed {reference} (layer {layer:.1} MiB)");
            println!("digest: {digest}");
            println!(
                "  juju deploy ./dist/image-backup_ubuntu@22.04-amd64.charm --trust --resource controller-image={reference}"
            );
        }
    }
    Ok(())
}

/// Tags as registries accept them, so that a layout's tag can be pushed as it is.
fn check_tag(tag: &str) -> Result<()> {
    Reference::parse("localhost/image-backup")?
        .with_tag(tag)
        .context("--tag")?;
    Ok(())
}

/// REF with its tag, or `tag` (default: the package version) when it has none. A digest is
/// refused: it is the result of the build, not an input.
fn push_reference(reference: &Reference, tag: Option<&str>) -> Result<Reference> {
    if reference.digest().is_some() {
        bail!(
            "--push {reference}: name a repository or a tag, not a digest (the build computes it)"
        );
    }
    match (reference.tag(), tag) {
        (Some(own), Some(tag)) if own != tag => {
            bail!("--push {reference} has the tag {own:?} but --tag is {tag:?}: give one")
        }
        (Some(_), _) => Ok(reference.clone()),
        (None, tag) => reference
            .clone()
            .with_tag(tag.unwrap_or(DEFAULT_TAG))
            .context("--tag"),
    }
}

/// Credentials from the Docker config, as `image-backup copy` reads them.
fn client_options(
    reference: &Reference,
    insecure: bool,
    authfile: Option<&Path>,
) -> Result<ClientOptions> {
    let credentials = match authfile {
        Some(path) => CredentialStore::from_docker_config_file(path)?,
        None => CredentialStore::from_default_docker_config()?,
    };
    Ok(ClientOptions {
        credentials,
        insecure_registries: if insecure {
            vec![reference.registry().to_owned()]
        } else {
            Vec::new()
        },
        ..ClientOptions::default()
    })
}

fn push(image: &OciImage, reference: &Reference, client: &Client) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let digest = runtime.block_on(image.push(client, reference))?;
    Ok(digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("image-backup-oci-image").chain(args.iter().copied()))
    }

    fn reference(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_output_is_required() {
        assert!(parse(&["--binary", "b"]).is_err());
        assert!(parse(&["--binary", "b", "--layout", "d", "--push", "localhost/x"]).is_err());
        assert!(parse(&["--binary", "b", "--layout", "d", "--insecure"]).is_err());
        assert!(parse(&["--binary", "b", "--layout", "d", "--authfile", "a"]).is_err());
        assert!(parse(&["--binary", "b", "--push", "localhost/x", "--insecure"]).is_ok());
        let cli = parse(&["--binary", "b", "--layout", "d"]).unwrap();
        assert_eq!(cli.ca_certificates, Path::new(HOST_CA_CERTIFICATES));
    }

    #[test]
    fn a_bad_reference_is_named() {
        let err = parse(&["--binary", "b", "--push", "Bad:ref"]).unwrap_err();
        assert!(err.to_string().contains("Bad:ref"), "{err}");
    }

    #[test]
    fn the_push_tag_comes_from_ref_or_tag_or_version() {
        let untagged = reference("registry.lan:5000/charms/image-backup");
        assert_eq!(
            push_reference(&untagged, None).unwrap().tag(),
            Some(DEFAULT_TAG)
        );
        assert_eq!(
            push_reference(&untagged, Some("dev")).unwrap().to_string(),
            "registry.lan:5000/charms/image-backup:dev"
        );
        let tagged = reference("registry.lan:5000/charms/image-backup:dev");
        assert_eq!(push_reference(&tagged, None).unwrap(), tagged);
        assert_eq!(push_reference(&tagged, Some("dev")).unwrap(), tagged);
        let err = push_reference(&tagged, Some("other")).unwrap_err();
        assert!(err.to_string().contains("other"), "{err}");
        let err = push_reference(&untagged, Some("-bad")).unwrap_err();
        assert!(format!("{err:#}").contains("-bad"), "{err:#}");
        let pinned = reference(&format!(
            "registry.lan:5000/charms/image-backup@sha256:{}",
            "0".repeat(64)
        ));
        assert!(push_reference(&pinned, None).is_err());
    }

    #[test]
    fn layout_tags_are_checked() {
        check_tag("0.1.0").unwrap();
        let err = check_tag("a/b").unwrap_err();
        assert!(format!("{err:#}").contains("a/b"), "{err:#}");
    }

    #[test]
    fn insecure_names_the_registry_of_ref() {
        let dir = tempfile::tempdir().unwrap();
        let authfile = dir.path().join("config.json");
        std::fs::write(
            &authfile,
            r#"{"auths":{"registry.lan:5000":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let target = reference("registry.lan:5000/charms/image-backup:dev");
        let options = client_options(&target, true, Some(&authfile)).unwrap();
        assert_eq!(options.insecure_registries, ["registry.lan:5000"]);
        assert!(options.credentials.get("registry.lan:5000").is_some());
        let options = client_options(&target, false, Some(&authfile)).unwrap();
        assert!(options.insecure_registries.is_empty());
        let err = client_options(&target, false, Some(&dir.path().join("none"))).unwrap_err();
        assert!(err.to_string().contains("none"), "{err}");
    }
}
