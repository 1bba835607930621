//! Manifests as raw bytes plus just enough parsing to find what they reference.
//!
//! A manifest is only ever pushed as the exact bytes it was fetched as, so its digest is kept.
//! The one manifest this crate writes itself is a platform-filtered index, whose digest
//! necessarily differs from the source's.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use crate::digest::Digest;

/// Media types this crate copies.
pub mod media_type {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// The `Accept` header for manifest requests, most specific first.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    pub fn is_image(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }
}

/// A manifest's exact bytes with its media type and digest (verified when fetched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A content descriptor, as in `manifests`, `config` and `layers`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// Foreign (non-distributable) layers live outside the registry, at their `urls`; copying
    /// them is neither needed nor, usually, allowed.
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty()
            && (self.media_type.contains("foreign") || self.media_type.contains("nondistributable"))
    }
}

/// What a manifest references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// An index / manifest list: child manifests.
    Index { manifests: Vec<Descriptor> },
    /// An image manifest: its config and layers.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
}

impl Manifest {
    /// The media type a manifest declares in its body, if any.
    pub fn declared_media_type(bytes: &[u8]) -> Option<String> {
        serde_json::from_slice::<RawManifest>(bytes)
            .ok()
            .and_then(|m| m.media_type)
    }

    /// Parses the references out of the manifest. Errors are plain reasons; the caller adds
    /// which manifest it was.
    pub fn contents(&self) -> Result<Contents, String> {
        let raw: RawManifest =
            serde_json::from_slice(&self.bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if raw.schema_version != Some(2) {
            return Err(format!(
                "schemaVersion {:?} is not supported (only 2)",
                raw.schema_version
            ));
        }
        let media_type = self.media_type.as_str();
        if media_type::is_index(media_type) || (media_type.is_empty() && raw.manifests.is_some()) {
            let manifests = raw.manifests.ok_or("index without \"manifests\"")?;
            Ok(Contents::Index { manifests })
        } else if media_type::is_image(media_type) || media_type.is_empty() {
            let config = raw.config.ok_or("image manifest without \"config\"")?;
            Ok(Contents::Image {
                config,
                layers: raw.layers.unwrap_or_default(),
            })
        } else {
            Err(format!("media type {media_type:?} is not supported"))
        }
    }

    /// An index with only the children whose platform matches one of `platforms`.
    /// Errors if none matches. Other fields of the index are kept.
    pub fn filter_index(&self, platforms: &[Platform]) -> Result<Manifest, String> {
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.bytes).map_err(|e| format!("not JSON: {e}"))?;
        let children = value
            .get_mut("manifests")
            .and_then(|m| m.as_array_mut())
            .ok_or("index without \"manifests\"")?;
        children.retain(|child| {
            serde_json::from_value::<Platform>(child.get("platform").cloned().unwrap_or_default())
                .is_ok_and(|p| platforms.iter().any(|want| want.matches(&p)))
        });
        if children.is_empty() {
            let wanted: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
            return Err(format!(
                "no child manifest matches platform(s) {}",
                wanted.join(", ")
            ));
        }
        let bytes = Bytes::from(serde_json::to_vec(&value).map_err(|e| e.to_string())?);
        Ok(Manifest {
            digest: Digest::sha256(&bytes),
            bytes,
            media_type: self.media_type.clone(),
        })
    }
}

/// An `os/architecture[/variant]` platform, as in `--platform linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Whether a child manifest of platform `other` is selected by this filter: same OS and
    /// architecture, and same variant when this filter names one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(format!(
                "invalid platform {s:?}: expected os/architecture[/variant], e.g. linux/arm64/v8"
            ));
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        Digest::sha256(&[n]).to_string()
    }

    fn index() -> Manifest {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
              {{"mediaType":"{m}","digest":"{}","size":10,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{m}","digest":"{}","size":11,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"{m}","digest":"{}","size":12}}
            ],"annotations":{{"a":"b"}}}}"#,
            media_type::OCI_INDEX,
            d(1),
            d(2),
            d(3),
            m = media_type::OCI_MANIFEST
        );
        let bytes = Bytes::from(json);
        Manifest {
            digest: Digest::sha256(&bytes),
            bytes,
            media_type: media_type::OCI_INDEX.into(),
        }
    }

    #[test]
    fn parses_index_and_image() {
        let Contents::Index { manifests } = index().contents().unwrap() else {
            panic!("not an index")
        };
        assert_eq!(manifests.len(), 3);
        assert_eq!(
            manifests[1].platform.as_ref().unwrap().to_string(),
            "linux/arm64/v8"
        );

        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{}","size":1}},
               "layers":[{{"mediaType":"l","digest":"{}","size":2}},
                         {{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{}","size":3,"urls":["https://x"]}}]}}"#,
            d(4),
            d(5),
            d(6)
        );
        let m = Manifest {
            bytes: Bytes::from(image),
            media_type: String::new(),
            digest: Digest::sha256(b""),
        };
        let Contents::Image { config, layers } = m.contents().unwrap() else {
            panic!("not an image")
        };
        assert_eq!(config.size, 1);
        assert!(!layers[0].is_foreign());
        assert!(layers[1].is_foreign());
    }

    #[test]
    fn refuses_unsupported_manifests() {
        let m = Manifest {
            bytes: Bytes::from_static(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            media_type: String::new(),
            digest: Digest::sha256(b""),
        };
        assert!(m.contents().unwrap_err().contains("schemaVersion"));
        let m = Manifest {
            bytes: Bytes::from_static(br#"{"schemaVersion":2}"#),
            media_type: "text/plain".into(),
            digest: Digest::sha256(b""),
        };
        assert!(m.contents().unwrap_err().contains("not supported"));
    }

    #[test]
    fn filters_index_by_platform() {
        let filtered = index()
            .filter_index(&["linux/arm64".parse().unwrap()])
            .unwrap();
        assert!(filtered.digest.verifies(&filtered.bytes));
        assert_ne!(filtered.digest, index().digest);
        let Contents::Index { manifests } = filtered.contents().unwrap() else {
            panic!()
        };
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].digest.to_string(), d(2));
        assert!(String::from_utf8_lossy(&filtered.bytes).contains("annotations"));

        let err = index()
            .filter_index(&["windows/amd64".parse().unwrap()])
            .unwrap_err();
        assert!(err.contains("windows/amd64"), "{err}");
        let none = index()
            .filter_index(&["linux/arm64/v7".parse().unwrap()])
            .unwrap_err();
        assert!(none.contains("no child"));
    }

    #[test]
    fn platform_syntax() {
        assert_eq!(
            "linux/arm64/v8"
                .parse::<Platform>()
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        for bad in ["linux", "linux/", "Linux/amd64", "a/b/c/d", ""] {
            assert!(bad.parse::<Platform>().unwrap_err().contains(bad));
        }
    }
}
