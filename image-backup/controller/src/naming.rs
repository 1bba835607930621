//! The name of the `ImageBackup` object that stands for an image.
//!
//! The name is a pure function of the normalised reference, so every workload that runs the
//! same image (however it spells it) points at the same object, and a second controller or a
//! restarted one finds the object it created before. It is a valid DNS-1123 label (at most 63
//! characters, so it also fits in label values): a readable prefix made of the reference with
//! every other character turned into `-`, cut to fit, then a hash of the whole reference, which
//! keeps names distinct when the readable part is cut or when two references differ only in
//! punctuation (`a/b-c` and `a/b.c`).

use sha2::{Digest, Sha256};

use crate::image::ImageRef;

/// Longest Kubernetes label (and DNS-1123 label) value.
const MAX_NAME: usize = 63;
/// Hex characters of the hash suffix: 40 bits, enough to make an accidental clash among the
/// images of one cluster negligible.
const HASH_LEN: usize = 10;

/// The `ImageBackup` object name for `image`.
pub fn object_name(image: &ImageRef) -> String {
    let canonical = image.to_string();
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    // A digest is already in the hash; keep the readable part about the repository and tag.
    let readable_source = canonical.split('@').next().unwrap_or_default();
    let mut readable = String::with_capacity(readable_source.len());
    for c in readable_source.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            readable.push(c);
        } else if !readable.ends_with('-') && !readable.is_empty() {
            readable.push('-');
        }
    }
    readable.truncate(MAX_NAME - HASH_LEN - 1);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        format!("image-{}", &hash[..HASH_LEN])
    } else {
        format!("{readable}-{}", &hash[..HASH_LEN])
    }
}

/// True when `name` is a valid DNS-1123 label.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=MAX_NAME).contains(&bytes.len())
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(image: &str) -> String {
        object_name(&ImageRef::parse(image).unwrap())
    }

    #[test]
    fn original_cases_get_readable_valid_names() {
        let cases = [
            ("nginx:1.14.2", "docker-io-library-nginx-1-14-2-"),
            (
                "marcosquesada/foo:1.0.0",
                "docker-io-marcosquesada-foo-1-0-0-",
            ),
            (
                "docker.io/marcosquesada/foo:1.0.0",
                "docker-io-marcosquesada-foo-1-0-0-",
            ),
        ];
        for (image, prefix) in cases {
            let got = name(image);
            assert!(got.starts_with(prefix), "{image} -> {got}");
            assert_eq!(got.len(), prefix.len() + HASH_LEN, "{image} -> {got}");
            assert!(is_dns_label(&got), "{got}");
        }
    }

    #[test]
    fn same_image_spelled_two_ways_gets_one_name() {
        let spellings = [
            ["nginx", "docker.io/library/nginx:latest"],
            ["nginx:1.14.2", "index.docker.io/library/nginx:1.14.2"],
            [
                "marcosquesada/foo:1.0.0",
                "docker.io/marcosquesada/foo:1.0.0",
            ],
        ];
        for [a, b] in spellings {
            assert_eq!(name(a), name(b), "{a} vs {b}");
        }
    }

    #[test]
    fn different_images_get_different_names() {
        let images = [
            "quay.io/a/b:1",
            "docker.io/a/b:1",
            "a/b-c:1",
            "a/b.c:1",
            "a/b",
            "a/b:2",
            "a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b@sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        let names: std::collections::HashSet<_> = images.iter().map(|i| name(i)).collect();
        assert_eq!(names.len(), images.len(), "{names:?}");
    }

    #[test]
    fn long_and_digest_pinned_references_fit() {
        let long = format!(
            "registry.example.com:5000/{}/app:{}@sha256:{}",
            ["very-long-path-component"; 8].join("/"),
            "t".repeat(128),
            "f".repeat(64)
        );
        for image in [
            long.as_str(),
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            let got = name(image);
            assert!(is_dns_label(&got), "{image} -> {got}");
        }
    }

    #[test]
    fn dns_label_check() {
        for (name, ok) in [
            ("a", true),
            ("a-b", true),
            ("-a", false),
            ("a-", false),
            ("A", false),
            ("", false),
        ] {
            assert_eq!(is_dns_label(name), ok, "{name}");
        }
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
