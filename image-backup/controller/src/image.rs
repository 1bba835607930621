//! Image references as the controller sees them: the copier's [`Reference`] with Docker's
//! default tag applied, so that one image spelled two ways (`nginx`,
//! `docker.io/library/nginx:latest`) is one backup.

use std::fmt;

use image_backup_copier::Reference;
pub use image_backup_copier::reference::ReferenceError as InvalidImage;

/// A normalised image reference: `registry/repository[:tag][@digest]`, with `latest` as the tag
/// when neither a tag nor a digest was given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef(Reference);

impl ImageRef {
    pub fn parse(image: &str) -> Result<Self, InvalidImage> {
        Ok(Self(Reference::parse(image)?.with_default_tag()))
    }

    pub fn reference(&self) -> &Reference {
        &self.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn same_image_spelled_differently_normalises_alike() {
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
            ("127.0.0.1:5000/a/b/c:v1.2", "127.0.0.1:5000/a/b/c:v1.2"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn digest_pinned_references_get_no_default_tag() {
        let pinned = ImageRef::parse(&format!("nginx@{DIGEST}")).unwrap();
        assert_eq!(
            pinned.to_string(),
            format!("docker.io/library/nginx@{DIGEST}")
        );
    }

    #[test]
    fn bad_references_name_the_input() {
        for bad in ["", "nginx:", "nginx@sha256:abc", "a//b", "a b"] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
