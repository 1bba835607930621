//! Where the backup of an image lives.
//!
//! # The preserving scheme (default)
//!
//! `<registry>[/<prefix>]/<source host>/<source repository>` with the source's tag, e.g. with
//! registry `backup.example` and prefix `mirror`:
//!
//! | source | backup |
//! | --- | --- |
//! | `nginx:1.25` | `backup.example/mirror/docker.io/library/nginx:1.25` |
//! | `quay.io/a/b:1` | `backup.example/mirror/quay.io/a/b:1` |
//! | `localhost:5000/a:1` | `backup.example/mirror/localhost_5000/a:1` |
//! | `quay.io/a/b@sha256:<hex>` | `backup.example/mirror/quay.io/a/b:sha256-<hex>@sha256:<hex>` |
//! | `quay.io/a/b:1@sha256:<hex>` | `backup.example/mirror/quay.io/a/b:1@sha256:<hex>` |
//!
//! It is collision-free: the source host (lowercased; a port's `:` becomes `_`, which no host
//! name contains) and the repository path are kept whole, so two different sources never share
//! a backup repository, and the tag is kept as is. A digest-only source gets the tag
//! `<algorithm>-<hex>` (truncated to the 128 characters a tag may have, for sha512) and the
//! backup reference stays pinned to the digest, so it is unambiguous even if the source
//! repository also had a tag spelled that way. IPv6 source hosts cannot be written as a path
//! component and are refused.
//!
//! # The compatible scheme
//!
//! What the original Go controller did: `<BACKUP_REPOSITORY><repository with / replaced by _>:<tag>`,
//! where `BACKUP_REPOSITORY` is a string prefix such as `docker.io/backupregistry/`
//! (`nginx:1.14.2` -> `docker.io/backupregistry/library_nginx:1.14.2`). It drops the source
//! registry, so `quay.io/a/b:1` and `docker.io/a/b:1` collide; use it only to keep finding
//! backups made by the original. Where the original produced an invalid reference (digest-pinned
//! sources), this one tags by digest as the preserving scheme does.

use crate::reference::{Reference, ReferenceError, path_component_ok};

/// How source references map to backup references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupNaming {
    /// `<registry>[/<prefix>]/<host>/<path>:<tag>`; see the module docs.
    Preserving {
        registry: String,
        prefix: Option<String>,
    },
    /// The original controller's `<repository><path with _>:<tag>`.
    Compat { repository: String },
}

/// Why a backup name could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error("invalid backup registry {registry:?}: {reason}")]
    InvalidRegistry { registry: String, reason: String },
    #[error("invalid backup prefix {prefix:?}: {reason}")]
    InvalidPrefix { prefix: String, reason: String },
    #[error("cannot name a backup of {source_ref}: {reason}")]
    Unmappable { source_ref: String, reason: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

impl BackupNaming {
    /// The preserving scheme, validating `registry` (a host, with port if any) and `prefix`
    /// (a repository path, without leading or trailing `/`).
    pub fn preserving(registry: &str, prefix: Option<&str>) -> Result<Self, NamingError> {
        let probe = Reference::new(registry, "probe", None, None).map_err(|e| {
            NamingError::InvalidRegistry {
                registry: registry.to_owned(),
                reason: e.reason,
            }
        })?;
        let prefix = match prefix.map(|p| p.trim_matches('/')) {
            None | Some("") => None,
            Some(p) => {
                if let Some(bad) = p.split('/').find(|c| !path_component_ok(c)) {
                    return Err(NamingError::InvalidPrefix {
                        prefix: p.to_owned(),
                        reason: format!(
                            "{bad:?} is not a repository path component (lowercase letters and \
                             digits separated by '.', '_', '__' or dashes)"
                        ),
                    });
                }
                Some(p.to_owned())
            }
        };
        Ok(BackupNaming::Preserving {
            registry: probe.registry().to_owned(),
            prefix,
        })
    }

    /// The original controller's scheme with its `BACKUP_REPOSITORY` string.
    pub fn compat(repository: &str) -> Result<Self, NamingError> {
        // The prefix must make a valid reference once a repository is appended.
        Reference::parse(&format!("{repository}probe")).map_err(|e| {
            NamingError::InvalidRegistry {
                registry: repository.to_owned(),
                reason: e.reason,
            }
        })?;
        Ok(BackupNaming::Compat {
            repository: repository.to_owned(),
        })
    }

    /// The backup reference for `source`.
    pub fn backup_reference(&self, source: &Reference) -> Result<Reference, NamingError> {
        let source = source.clone().with_default_tag();
        let tag = match (source.tag(), source.digest()) {
            (Some(tag), _) => tag.to_owned(),
            (None, Some(digest)) => {
                let mut tag = format!("{}-{}", digest.algorithm().name(), digest.hex());
                tag.truncate(128);
                tag
            }
            (None, None) => unreachable!("with_default_tag adds a tag"),
        };
        let backup = match self {
            BackupNaming::Preserving { registry, prefix } => {
                let host = host_component(&source)?;
                let mut repository = String::new();
                if let Some(prefix) = prefix {
                    repository.push_str(prefix);
                    repository.push('/');
                }
                repository.push_str(&host);
                repository.push('/');
                repository.push_str(source.repository());
                Reference::new(registry, &repository, Some(&tag), None)?
            }
            BackupNaming::Compat { repository } => Reference::parse(&format!(
                "{repository}{}:{tag}",
                source.repository().replace('/', "_")
            ))?,
        };
        Ok(match source.digest() {
            Some(digest) => backup.with_digest(digest.clone()),
            None => backup,
        })
    }

    /// Whether `image` already is a backup made under this scheme, so it must not be backed up
    /// again (the controller switches workloads to backups).
    pub fn is_backup(&self, image: &Reference) -> bool {
        match self {
            BackupNaming::Preserving { registry, prefix } => {
                image.registry() == registry
                    && prefix.as_ref().is_none_or(|p| {
                        image
                            .repository()
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                    })
            }
            BackupNaming::Compat { repository } => image.to_string().starts_with(repository),
        }
    }
}

fn host_component(source: &Reference) -> Result<String, NamingError> {
    let host = source.registry();
    if host.starts_with('[') {
        return Err(NamingError::Unmappable {
            source_ref: source.to_string(),
            reason: "IPv6 registry hosts cannot be written as a repository path component"
                .to_owned(),
        });
    }
    Ok(host.replace(':', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn backup(naming: &BackupNaming, source: &str) -> String {
        naming
            .backup_reference(&Reference::parse(source).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn preserving_keeps_registry_path_and_tag() {
        let n = BackupNaming::preserving("backup.example", Some("mirror")).unwrap();
        assert_eq!(
            backup(&n, "nginx:1.25"),
            "backup.example/mirror/docker.io/library/nginx:1.25"
        );
        assert_eq!(
            backup(&n, "nginx"),
            "backup.example/mirror/docker.io/library/nginx:latest"
        );
        assert_eq!(
            backup(&n, "quay.io/a/b:1"),
            "backup.example/mirror/quay.io/a/b:1"
        );
        assert_eq!(
            backup(&n, "docker.io/a/b:1"),
            "backup.example/mirror/docker.io/a/b:1"
        );
        assert_eq!(
            backup(&n, "localhost:5000/a:1"),
            "backup.example/mirror/localhost_5000/a:1"
        );
        assert_eq!(
            backup(&n, &format!("quay.io/a/b@sha256:{HEX}")),
            format!("backup.example/mirror/quay.io/a/b:sha256-{HEX}@sha256:{HEX}")
        );
        assert_eq!(
            backup(&n, &format!("quay.io/a/b:1@sha256:{HEX}")),
            format!("backup.example/mirror/quay.io/a/b:1@sha256:{HEX}")
        );
        let n = BackupNaming::preserving("127.0.0.1:5000", None).unwrap();
        assert_eq!(backup(&n, "quay.io/a/b:1"), "127.0.0.1:5000/quay.io/a/b:1");
    }

    #[test]
    fn preserving_is_injective_on_samples() {
        let n = BackupNaming::preserving("backup.example", None).unwrap();
        let sources = [
            "quay.io/a/b:1",
            "docker.io/a/b:1",
            "a/b:1",
            "a_b:1",
            "quay.io/a_b:1",
            "quay.io:443/a/b:1",
            "quay.io/a/b:2",
            "localhost:5000/a:1",
            "localhost/a:1",
        ];
        let mut seen = std::collections::HashMap::new();
        for s in sources {
            let canonical = Reference::parse(s).unwrap().with_default_tag().to_string();
            let b = backup(&n, s);
            if let Some(prev) = seen.insert(b.clone(), canonical.clone()) {
                assert_eq!(prev, canonical, "{s} collides with {prev} at {b}");
            }
        }
    }

    #[test]
    fn compat_reproduces_the_original() {
        let n = BackupNaming::compat("docker.io/backupregistry/").unwrap();
        assert_eq!(
            backup(&n, "nginx:1.14.2"),
            "docker.io/backupregistry/library_nginx:1.14.2"
        );
        assert_eq!(
            backup(&n, "marcosquesada/foo:1.0.0"),
            "docker.io/backupregistry/marcosquesada_foo:1.0.0"
        );
        assert_eq!(
            backup(&n, "docker.io/marcosquesada/foo:1.0.0"),
            "docker.io/backupregistry/marcosquesada_foo:1.0.0"
        );
        // The original's known collision, kept on purpose.
        assert_eq!(backup(&n, "quay.io/a/b:1"), backup(&n, "docker.io/a/b:1"));
        assert_eq!(
            backup(&n, &format!("nginx@sha256:{HEX}")),
            format!("docker.io/backupregistry/library_nginx:sha256-{HEX}@sha256:{HEX}")
        );
    }

    #[test]
    fn is_backup_recognises_own_names() {
        let n = BackupNaming::preserving("backup.example", Some("mirror")).unwrap();
        let b = n
            .backup_reference(&Reference::parse("nginx").unwrap())
            .unwrap();
        assert!(n.is_backup(&b));
        assert!(!n.is_backup(&Reference::parse("nginx").unwrap()));
        assert!(!n.is_backup(&Reference::parse("backup.example/mirrorx/a").unwrap()));
        let c = BackupNaming::compat("docker.io/backupregistry/").unwrap();
        assert!(
            c.is_backup(&Reference::parse("docker.io/backupregistry/library_nginx:1").unwrap())
        );
    }

    #[test]
    fn invalid_configuration_is_refused() {
        assert!(matches!(
            BackupNaming::preserving("bad host", None),
            Err(NamingError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            BackupNaming::preserving("backup.example", Some("Upper/x")),
            Err(NamingError::InvalidPrefix { .. })
        ));
        assert!(BackupNaming::compat("not a registry/").is_err());
        let n = BackupNaming::preserving("backup.example", None).unwrap();
        let err = n
            .backup_reference(&Reference::parse("[::1]:5000/a:1").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("IPv6"), "{err}");
    }
}
