//! Image references as the controller sees them: normalised, so that one image spelled two
//! ways (`nginx`, `docker.io/library/nginx:latest`) is one backup.

use std::fmt;

/// A container image reference in canonical form: `registry/repository[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// An image string that is not a valid reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {image:?}: {reason}")]
pub struct InvalidImage {
    pub image: String,
    pub reason: &'static str,
}

const DOCKER_HUB: &str = "docker.io";

impl ImageRef {
    /// Parses and normalises a reference the way the container runtime resolves it: Docker Hub
    /// is the default registry, `library/` the default namespace there, `latest` the default tag
    /// unless the reference is pinned by digest.
    pub fn parse(image: &str) -> Result<Self, InvalidImage> {
        let bad = |reason| InvalidImage {
            image: image.to_string(),
            reason,
        };
        if image.is_empty() {
            return Err(bad("empty reference"));
        }
        if image.len() > 4096 {
            return Err(bad("longer than 4096 characters"));
        }
        let (name_and_tag, digest) = match image.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    parse_digest(digest)
                        .ok_or_else(|| bad("digest must be sha256:<64 hex> or sha512:<128 hex>"))?,
                ),
            ),
            None => (image, None),
        };
        let (registry, rest) = match name_and_tag.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest)
            }
            _ => (DOCKER_HUB.to_string(), name_and_tag),
        };
        if !valid_host(&registry) {
            return Err(bad("registry must be host[:port]"));
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        // The tag is after the last ':' of the last path component (a ':' before a '/' was a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad(
                "tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        if repository.is_empty() || !repository.split('/').all(valid_path_component) {
            return Err(bad(
                "repository must be lowercase [a-z0-9] components separated by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// True when this image lives under `prefix` (`host[:port][/path]`), e.g. the backup
    /// registry: such an image already is a backup and is never backed up again.
    pub fn is_under(&self, prefix: &str) -> bool {
        let prefix = prefix.trim_end_matches('/');
        let (host, path) = prefix.split_once('/').unwrap_or((prefix, ""));
        if !self.registry.eq_ignore_ascii_case(host) {
            return false;
        }
        path.is_empty()
            || self.repository == path
            || self
                .repository
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn parse_digest(digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| digest.to_string())
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    name_ok && port_ok
}

fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// One path component: `[a-z0-9]+` joined by `.`, `_`, `__` or `-`+ (distribution's grammar).
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for b in bytes {
        if alnum(b) {
            let ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|s| s == b'-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(*b as char);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_the_container_runtime() {
        let cases = [
            ("nginx:1.14.2", "docker.io/library/nginx:1.14.2"),
            ("nginx", "docker.io/library/nginx:latest"),
            (
                "marcosquesada/foo:1.0.0",
                "docker.io/marcosquesada/foo:1.0.0",
            ),
            (
                "docker.io/marcosquesada/foo:1.0.0",
                "docker.io/marcosquesada/foo:1.0.0",
            ),
            (
                "index.docker.io/library/nginx",
                "docker.io/library/nginx:latest",
            ),
            ("quay.io/a/b:1", "quay.io/a/b:1"),
            ("localhost/a", "localhost/a:latest"),
            ("127.0.0.1:5000/a/b/c:v1.2", "127.0.0.1:5000/a/b/c:v1.2"),
            ("registry:5000/app", "registry:5000/app:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn digest_pinned_references_keep_their_digest_and_get_no_default_tag() {
        let only_digest = ImageRef::parse(&format!("nginx@{DIGEST}")).unwrap();
        assert_eq!(
            only_digest.to_string(),
            format!("docker.io/library/nginx@{DIGEST}")
        );
        assert_eq!(only_digest.tag(), None);
        let both = ImageRef::parse(&format!("ghcr.io/o/r:1.0@{DIGEST}")).unwrap();
        assert_eq!(both.tag(), Some("1.0"));
        assert_eq!(both.digest(), Some(DIGEST));
    }

    #[test]
    fn rejects_bad_references_naming_the_input() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "nginx@md5:0123",
            "a//b",
            "-a/b",
            "host:99999/a",
            "a b",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.image, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn recognises_images_under_a_prefix() {
        let image =
            ImageRef::parse("backup.example:5000/mirror/docker.io/library/nginx:1").unwrap();
        assert!(image.is_under("backup.example:5000"));
        assert!(image.is_under("backup.example:5000/mirror"));
        assert!(image.is_under("backup.example:5000/mirror/"));
        assert!(!image.is_under("backup.example:5000/mirr"));
        assert!(!image.is_under("backup.example/mirror"));
        assert!(
            !ImageRef::parse("nginx")
                .unwrap()
                .is_under("backup.example:5000")
        );
    }
}
