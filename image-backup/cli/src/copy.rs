//! `image-backup copy`: options to a [`Copier`], the report to text or JSON.

use image_backup_copier::{
    ClientOptions, Copier, CopyOptions, CopyReport, CredentialStore, Credentials, Error,
    RetryPolicy, UploadMode,
};
use indicatif::HumanBytes;

use crate::args::{CopyArgs, RegistryArgs};
use crate::progress::Reporter;

pub async fn run(args: CopyArgs) -> Result<(), Error> {
    let options = CopyOptions {
        client: client_options(&args.registry, &args)?,
        jobs: usize::from(args.jobs),
        platforms: args.platforms.clone(),
        upload: match args.chunk_size {
            Some(n) => UploadMode::Chunked {
                chunk_size: usize::try_from(n).unwrap_or(usize::MAX),
            },
            None => UploadMode::Monolithic,
        },
    };
    let copier = Copier::new(options)?;
    let reporter = Reporter::new(args.json);
    let result = copier
        .copy(&args.source, &args.destination, reporter.sink())
        .await;
    reporter.finish();
    let report = result?;
    if args.json {
        // A report of strings and numbers always serialises.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("{}", summary(&report));
    }
    Ok(())
}

fn client_options(registry: &RegistryArgs, args: &CopyArgs) -> Result<ClientOptions, Error> {
    let mut credentials = match &registry.authfile {
        Some(path) => CredentialStore::from_docker_config_file(path)?,
        None => CredentialStore::from_default_docker_config()?,
    };
    let parse = |flag: &str, value: &str| {
        Credentials::parse_user_password(value)
            .map_err(|_| Error::InvalidInput(format!("{flag}: expected USER:PASSWORD")))
    };
    let src = registry
        .src_creds
        .as_deref()
        .map(|v| parse("--src-creds", v))
        .transpose()?;
    let dest = registry
        .dest_creds
        .as_deref()
        .map(|v| parse("--dest-creds", v))
        .transpose()?;
    if let (Some(s), Some(d)) = (&src, &dest)
        && args.source.registry() == args.destination.registry()
        && s != d
    {
        return Err(Error::InvalidInput(format!(
            "--src-creds and --dest-creds differ but both are for {}",
            args.source.registry()
        )));
    }
    if let Some(src) = src {
        credentials.insert(args.source.registry(), src);
    }
    if let Some(dest) = dest {
        credentials.insert(args.destination.registry(), dest);
    }
    Ok(ClientOptions {
        credentials,
        insecure_registries: registry.insecure_registries.clone(),
        retry: RetryPolicy {
            max_attempts: registry.retries,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    })
}

/// One line for people and logs.
pub fn summary(report: &CopyReport) -> String {
    if report.already_present {
        return format!(
            "{} already at {} ({}): nothing to copy, {} requests",
            report.source, report.destination, report.source_digest, report.requests
        );
    }
    let mut line = format!(
        "copied {} -> {} in {:.1}s: {} blobs copied ({}), {} mounted, {} skipped; {} manifests pushed, {} present; {} requests",
        report.source,
        report.destination,
        report.seconds,
        report.blobs_copied,
        HumanBytes(report.bytes_copied),
        report.blobs_mounted,
        report.blobs_skipped,
        report.manifests_pushed,
        report.manifests_present,
        report.requests,
    );
    if report.platforms_filtered {
        line.push_str(&format!(
            "; platforms filtered: the destination digest differs from the source's {}",
            report.source_digest
        ));
    }
    line
}
