//! Image references: `[registry/]repository[:tag][@digest]`, validated and normalised the way
//! Docker does (`nginx` is `docker.io/library/nginx`).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry that short names such as `nginx` or `bitnami/redis` live in.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag Docker assumes when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Distribution's limit on `registry/repository`.
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A validated image reference.
///
/// The registry is always explicit (`docker.io` for short names), the repository is the path
/// inside it. A tag, a digest or both may be present; [`Reference::with_default_tag`] adds
/// `latest` when neither is, as `docker pull` does. When both are present the digest decides
/// what is fetched and the tag only names the result.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid reference. `input` is the string as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

/// What to ask a registry for: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector<'a> {
    Tag(&'a str),
    Digest(&'a Digest),
}

impl fmt::Display for Selector<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Tag(t) => f.write_str(t),
            Selector::Digest(d) => fmt::Display::fmt(d, f),
        }
    }
}

impl Reference {
    /// Parses and normalises a reference; see the module docs for the accepted forms.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(err("empty reference"));
        }
        if input.trim() != input {
            return Err(err("leading or trailing whitespace"));
        }

        let (name_and_tag, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| err(&e.to_string()))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };

        // A ':' after the last '/' separates the tag; one before it belongs to a port.
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => (
                &name_and_tag[..colon],
                Some(name_and_tag[colon + 1..].to_owned()),
            ),
            _ => (name_and_tag, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|reason| err(&reason))?;
        }

        let (registry, repository) = split_registry(name);
        validate_registry(&registry).map_err(|reason| err(&reason))?;
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        validate_repository(&repository).map_err(|reason| err(&reason))?;
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(err(&format!("name is longer than {NAME_MAX} characters")));
        }

        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Builds a reference from parts, validating each.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Self, ReferenceError> {
        let mut text = format!("{registry}/{repository}");
        if let Some(tag) = tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        let parsed = Reference::parse(&text)?;
        // Guard against a registry-less `registry` being taken for a path component.
        if parsed.registry != registry.to_ascii_lowercase() || parsed.repository != repository {
            return Err(ReferenceError {
                input: text,
                reason: format!("{registry:?} is not a registry host"),
            });
        }
        Ok(parsed)
    }

    /// Registry host, with port if any (`docker.io`, `quay.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path inside the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to fetch: the digest when pinned, else the tag, else `latest`.
    pub fn selector(&self) -> Selector<'_> {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Selector::Digest(d),
            (None, Some(t)) => Selector::Tag(t),
            (None, None) => Selector::Tag(DEFAULT_TAG),
        }
    }

    /// This reference with `latest` as tag when it names neither a tag nor a digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// This reference with `tag` (validated) replacing any tag.
    pub fn with_tag(mut self, tag: &str) -> Result<Self, ReferenceError> {
        validate_tag(tag).map_err(|reason| ReferenceError {
            input: tag.to_owned(),
            reason,
        })?;
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    pub fn without_digest(mut self) -> Self {
        self.digest = None;
        self
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
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

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Docker's rule: the first component is a registry when it has a `.` or `:`, is `localhost`,
/// or has an uppercase letter (repositories are lowercase); otherwise the name is on Docker Hub.
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            let host = first.to_ascii_lowercase();
            let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
                DOCKER_HUB.to_owned()
            } else {
                host
            };
            (host, rest)
        }
        _ => (DOCKER_HUB.to_owned(), name),
    }
}

fn validate_registry(host: &str) -> Result<(), String> {
    let (hostname, port) = if let Some(rest) = host.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {host:?}: unterminated IPv6 address"))?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("registry {host:?}: invalid IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("registry {host:?}: junk after IPv6 address"))?,
            ),
        };
        (None, port)
    } else {
        match host.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(hostname) = hostname {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !hostname.split('.').all(label_ok) {
            return Err(format!(
                "registry host {hostname:?} is not a valid host name"
            ));
        }
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(format!("registry port {port:?} is not a port number"));
    }
    Ok(())
}

fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("empty repository name".to_owned());
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err(format!(
                "repository {repository:?} has an empty path component"
            ));
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("repository {repository:?} must be lowercase"));
        }
        if !path_component_ok(component) {
            return Err(format!(
                "repository path component {component:?} must be lowercase letters and digits \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
pub(crate) fn path_component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // One run of alphanumerics.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // One separator.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
}

pub(crate) fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    match chars.next() {
        None => Err("empty tag".to_owned()),
        Some(first) if !word(first) => Err(format!(
            "tag {tag:?} must start with a letter, digit or '_'"
        )),
        _ if tag.len() > TAG_MAX => Err(format!("tag {tag:?} is longer than {TAG_MAX} characters")),
        _ if !chars.all(|c| word(c) || c == '.' || c == '-') => Err(format!(
            "tag {tag:?} may only contain letters, digits, '_', '.' and '-'"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<String>) {
        (
            r.registry(),
            r.repository(),
            r.tag(),
            r.digest().map(|d| d.to_string()),
        )
    }

    #[test]
    fn docker_hub_short_names() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(parts(&r), ("docker.io", "library/nginx", None, None));
        assert_eq!(r.selector(), Selector::Tag("latest"));
        assert_eq!(
            r.with_default_tag().to_string(),
            "docker.io/library/nginx:latest"
        );
        let r = Reference::parse("bitnami/redis:7.2").unwrap();
        assert_eq!(parts(&r), ("docker.io", "bitnami/redis", Some("7.2"), None));
        let r = Reference::parse("index.docker.io/library/nginx:1").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx:1");
    }

    #[test]
    fn registries_ports_tags_digests() {
        let r = Reference::parse("quay.io/a/b:1").unwrap();
        assert_eq!(parts(&r), ("quay.io", "a/b", Some("1"), None));
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!(parts(&r), ("localhost:5000", "x", None, None));
        let r = Reference::parse("localhost/x/y:t").unwrap();
        assert_eq!(parts(&r), ("localhost", "x/y", Some("t"), None));
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b@{D}")).unwrap();
        assert_eq!(
            parts(&r),
            ("127.0.0.1:5000", "a/b", None, Some(D.to_owned()))
        );
        assert_eq!(r.selector().to_string(), D);
        let r = Reference::parse(&format!("repo:tag@{D}")).unwrap();
        assert_eq!(
            parts(&r),
            ("docker.io", "library/repo", Some("tag"), Some(D.to_owned()))
        );
        assert_eq!(r.to_string(), format!("docker.io/library/repo:tag@{D}"));
        let r = Reference::parse("[::1]:5000/a:b").unwrap();
        assert_eq!(parts(&r), ("[::1]:5000", "a", Some("b"), None));
        let r = Reference::parse("Example.COM/a").unwrap();
        assert_eq!(r.registry(), "example.com");
    }

    #[test]
    fn round_trips_through_display() {
        for s in [
            "docker.io/library/nginx:1.25",
            "quay.io/a/b_c/d.e__f--g",
            &format!("ghcr.io/x/y:v1@{D}"),
            "127.0.0.1:5000/r@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ] {
            assert_eq!(Reference::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_references_name_the_problem() {
        for (bad, why) in [
            ("", "empty"),
            (" nginx", "whitespace"),
            ("Nginx", "lowercase"),
            ("nginx:", "empty tag"),
            ("nginx:-x", "must start"),
            ("nginx:a b", "may only contain"),
            ("nginx@sha256:abc", "invalid digest"),
            ("nginx@md5:abc", "unsupported algorithm"),
            ("a//b", "empty path component"),
            ("quay.io/", "empty repository"),
            ("quay.io/a-/b", "path component"),
            ("quay.io/_a", "path component"),
            ("host:99999/a", "port"),
            ("host:/a", "port"),
            ("bad_host.io/a", "host name"),
            ("[zz]:5000/a", "IPv6"),
        ] {
            let err = Reference::parse(bad).unwrap_err();
            assert_eq!(err.input, bad);
            assert!(
                err.to_string().contains(why),
                "{bad:?}: {err} does not mention {why:?}"
            );
        }
        let long = format!("quay.io/{}", "a".repeat(260));
        assert!(
            Reference::parse(&long)
                .unwrap_err()
                .reason
                .contains("longer")
        );
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
    }

    #[test]
    fn path_components() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "a1.b2-c3"] {
            assert!(path_component_ok(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a___b", "a._b", "A"] {
            assert!(!path_component_ok(bad), "{bad}");
        }
    }

    #[test]
    fn new_builds_and_validates() {
        let r = Reference::new("reg.example:443", "a/b", Some("t"), None).unwrap();
        assert_eq!(r.to_string(), "reg.example:443/a/b:t");
        assert!(Reference::new("notahost", "a", None, None).is_err());
    }
}
