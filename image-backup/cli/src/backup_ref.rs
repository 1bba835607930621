//! `image-backup backup-ref`: where the backup of an image lives.

use image_backup_copier::{BackupNaming, Error};

use crate::args::BackupRefArgs;

pub fn run(args: BackupRefArgs) -> Result<(), Error> {
    println!("{}", backup_ref(&args)?);
    Ok(())
}

fn backup_ref(args: &BackupRefArgs) -> Result<String, Error> {
    let naming = match (&args.compat, &args.registry) {
        (Some(repository), _) => BackupNaming::compat(repository)?,
        (None, Some(registry)) => BackupNaming::preserving(registry, args.prefix.as_deref())?,
        (None, None) => {
            return Err(Error::InvalidInput(
                "--registry or --compat is required".into(),
            ));
        }
    };
    Ok(naming.backup_reference(&args.source)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        source: &str,
        registry: Option<&str>,
        prefix: Option<&str>,
        compat: Option<&str>,
    ) -> BackupRefArgs {
        BackupRefArgs {
            source: source.parse().unwrap(),
            registry: registry.map(Into::into),
            prefix: prefix.map(Into::into),
            compat: compat.map(Into::into),
        }
    }

    #[test]
    fn both_schemes() {
        assert_eq!(
            backup_ref(&args(
                "quay.io/a/b:1",
                Some("backup.example:5000"),
                Some("m"),
                None
            ))
            .unwrap(),
            "backup.example:5000/m/quay.io/a/b:1"
        );
        assert_eq!(
            backup_ref(&args(
                "nginx:1.14.2",
                None,
                None,
                Some("docker.io/backupregistry/")
            ))
            .unwrap(),
            "docker.io/backupregistry/library_nginx:1.14.2"
        );
        let err = backup_ref(&args("nginx", Some("bad host"), None, None)).unwrap_err();
        assert_eq!(err.kind(), image_backup_copier::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("bad host"), "{err}");
    }
}
