//! Syntax checks for the values the `image-backup` bags carry: image references (the grammar of
//! the distribution project's `reference` package, which Docker, containerd and every OCI
//! registry client follow), registries, digests and the API address.
//!
//! Only syntax: whether an image exists is the controller's business.

/// `[domain/]path[:tag][@digest]`, e.g. `nginx`, `docker.io/library/nginx:1.27`,
/// `localhost:5000/a/b@sha256:...`.
pub fn check_image(reference: &str) -> Result<(), String> {
    if reference.is_empty() {
        return Err("image reference cannot be empty".into());
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((name_tag, digest)) => (name_tag, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    // A tag follows the last `:` after the last `/`; an earlier `:` belongs to a port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].find(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.len() > 255 {
        return Err("repository name must not be longer than 255 characters".into());
    }
    let path = match name.split_once('/') {
        Some((first, rest)) if is_domain_like(first) => {
            check_domain(first)?;
            rest
        }
        _ => name,
    };
    check_path(path)
}

/// `host[:port][/path]`: where backups are pushed, e.g. `registry.example.com:5000/backups`.
pub fn check_registry(registry: &str) -> Result<(), String> {
    let (domain, path) = match registry.split_once('/') {
        Some((domain, path)) => (domain, Some(path)),
        None => (registry, None),
    };
    check_domain(domain)?;
    path.map_or(Ok(()), check_path)
}

/// `algorithm:hex` with one of the algorithms registries implement (go-digest's: sha256,
/// sha384, sha512), lowercase hex of the algorithm's exact length.
pub fn check_digest(digest: &str) -> Result<(), String> {
    let hex_len = match digest.split_once(':') {
        Some(("sha256", hex)) => Some((hex, 64)),
        Some(("sha384", hex)) => Some((hex, 96)),
        Some(("sha512", hex)) => Some((hex, 128)),
        _ => None,
    };
    match hex_len {
        Some((hex, len))
            if hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        _ => Err(format!("invalid digest {digest:?}")),
    }
}

/// `http://host:port` or `https://host:port`, what a gRPC client connects to.
pub fn check_api_address(address: &str) -> Result<(), String> {
    let invalid = || Err("must be http://host:port or https://host:port".to_owned());
    let Some(authority) = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
    else {
        return invalid();
    };
    let Some((host, port)) = authority.rsplit_once(':') else {
        return invalid();
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().map_or(true, |p| p == 0) {
        return invalid();
    }
    if check_host(host).is_err() {
        return invalid();
    }
    Ok(())
}

/// The first path component names a registry when it looks like a host: it has a `.` or a
/// port, is `localhost`, or has capitals (repository paths are lowercase).
fn is_domain_like(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.bytes().any(|b| b.is_ascii_uppercase())
}

/// `host[:port]`.
fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        // `[::1]` alone: the last `:` is inside the brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid registry port in {domain:?}"));
    }
    check_host(host).map_err(|()| format!("invalid registry host {host:?}"))
}

/// A DNS name (components of letters, digits and inner dashes), an IPv4 address (which that
/// covers) or a bracketed IPv6 address.
fn check_host(host: &str) -> Result<(), ()> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().map(drop).map_err(drop);
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if host.split('.').all(component_ok) {
        Ok(())
    } else {
        Err(())
    }
}

/// Repository path: components of lowercase letters and digits, joined inside a component by
/// `.`, `_`, `__` or runs of `-`.
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if !is_path_component(component) {
            return Err(format!("invalid repository path component {component:?}"));
        }
    }
    Ok(())
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (mut i, mut last_alnum) = (0, false);
    while i < bytes.len() {
        if alnum(bytes[i]) {
            last_alnum = true;
            i += 1;
            continue;
        }
        // A separator must sit between alphanumerics.
        if !last_alnum {
            return false;
        }
        let separator_len = match bytes[i] {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[i..].iter().take_while(|&&b| b == b'-').count(),
            _ => return false,
        };
        i += separator_len;
        last_alnum = false;
    }
    last_alnum
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag {tag:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn valid_images() {
        let with_digest = format!("nginx@{SHA}");
        let pinned = format!("registry.example.com:5000/team/app:1.0@{SHA}");
        for image in [
            "nginx",
            "nginx:1.14.2",
            "marcosquesada/foo:1.0.0",
            "docker.io/marcosquesada/foo:1.0.0",
            "docker.io/library/nginx:latest",
            "localhost/app",
            "localhost:5000/app:v1",
            "127.0.0.1:5000/a/b/c",
            "[::1]:5000/app",
            "Registry.Example.com/app",
            "ghcr.io/canonical/charmed-postgresql:14.15-22.04_edge",
            "org/a.b-c__d---e/f",
            "quay.io/x/y:tag_with.dots-and_underscores",
            &with_digest,
            &pinned,
        ] {
            assert_eq!(check_image(image), Ok(()), "{image}");
        }
    }

    #[test]
    fn invalid_images() {
        let long = format!("{}/app", "a".repeat(256));
        for image in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-1",
            "nginx:a/b",
            "nginx@sha256:abc",
            "nginx@md5",
            "/nginx",
            "nginx/",
            "a//b",
            "a..b",
            "a_-b",
            "-a",
            "a-",
            "nginx latest",
            " nginx",
            "https://docker.io/nginx",
            "docker.io:/nginx",
            "exa_mple.com/app",
            &long,
        ] {
            assert!(check_image(image).is_err(), "{image:?} accepted");
        }
        assert!(check_image(&format!("nginx:{}", "t".repeat(129))).is_err());
        assert!(check_image(&format!("nginx:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn registries() {
        for ok in [
            "registry:5000",
            "localhost:5000/backups",
            "r.example.com/a/b",
            "[::1]:5000",
        ] {
            assert_eq!(check_registry(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "http://r.example.com",
            "r.example.com/",
            "r:port",
            "r.example.com/Up",
        ] {
            assert!(check_registry(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn digests() {
        assert_eq!(check_digest(SHA), Ok(()));
        assert_eq!(check_digest(&format!("sha512:{}", "ab".repeat(64))), Ok(()));
        assert_eq!(check_digest(&format!("sha384:{}", "0f".repeat(48))), Ok(()));
        let too_long = format!("{SHA}0");
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "md5:1",
            &SHA.to_uppercase(),
            &SHA[..70],
            &too_long,
        ] {
            assert!(check_digest(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn api_addresses() {
        for ok in [
            "http://10.1.2.3:50051",
            "https://image-backup.model.svc:443",
            "http://[::1]:1",
        ] {
            assert_eq!(check_api_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "10.1.2.3:50051",
            "http://10.1.2.3",
            "http://10.1.2.3:0",
            "http://10.1.2.3:65536",
            "http://10.1.2.3:50051/",
            "http://:50051",
            "grpc://h:1",
            "http://h:+1",
        ] {
            assert!(check_api_address(bad).is_err(), "{bad:?} accepted");
        }
    }
}
