//! Manifest calls: HEAD, GET (verified, size-limited), PUT of raw bytes.

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::{Client, Repository, Scope};
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Manifest, media_type};
use crate::reference::Selector;

/// Distribution refuses manifests over 4 MiB; so do we, rather than buffer anything.
const MANIFEST_MAX: usize = 4 * 1024 * 1024;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// What a HEAD on a manifest tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest`, when the registry sends it.
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
}

fn accept_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(media_type::ACCEPT));
    headers
}

fn header_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get(DOCKER_CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v).ok())
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Drop parameters such as `; charset=utf-8`.
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
}

impl Client {
    /// HEADs a manifest; `None` when it does not exist.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        selector: &Selector<'_>,
    ) -> Result<Option<ManifestHead>, Error> {
        let url = self.url(repo, &format!("manifests/{selector}"))?;
        let what = format!("manifest {selector}");
        let response = self.head(repo, url, accept_headers(), &what).await?;
        Ok(response.map(|response| ManifestHead {
            digest: header_digest(response.headers()),
            media_type: content_type(response.headers()),
        }))
    }

    /// GETs a manifest and verifies its digest: against the selector when it is a digest,
    /// else against `Docker-Content-Digest` when the registry sends one.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        selector: &Selector<'_>,
    ) -> Result<Manifest, Error> {
        let url = self.url(repo, &format!("manifests/{selector}"))?;
        let mut response = self
            .send_ok(
                repo,
                &Scope::pull(&repo.name),
                Method::GET,
                url.clone(),
                accept_headers(),
                None,
                &format!("manifest {selector}"),
            )
            .await?;
        let what = format!("manifest {repo}@{selector}");
        let header_digest = header_digest(response.headers());
        let declared_type = content_type(response.headers());
        let too_big = || Error::InvalidManifest {
            registry: repo.registry.clone(),
            reference: format!("{}@{selector}", repo.name),
            reason: format!("larger than {MANIFEST_MAX} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|n| n > MANIFEST_MAX as u64)
        {
            return Err(too_big());
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| self.transport("GET", &url, source))?
        {
            if bytes.len() + chunk.len() > MANIFEST_MAX {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        let bytes: Bytes = bytes.freeze();

        let expected = match selector {
            Selector::Digest(d) => Some((*d).clone()),
            Selector::Tag(_) => header_digest,
        };
        let digest = match expected {
            Some(expected) => {
                let actual = expected.of_same_algorithm(&bytes);
                if actual != expected {
                    return Err(Error::DigestMismatch {
                        what,
                        expected,
                        actual: actual.to_string(),
                    });
                }
                actual
            }
            None => Digest::sha256(&bytes),
        };
        // Registries are not consistent about Content-Type; the body's own field wins.
        let media_type = Manifest::declared_media_type(&bytes)
            .or(declared_type)
            .unwrap_or_default();
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// PUTs `manifest`'s exact bytes under `tag_or_digest`.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        tag_or_digest: &str,
        manifest: &Manifest,
    ) -> Result<(), Error> {
        let url = self.url(repo, &format!("manifests/{tag_or_digest}"))?;
        let mut headers = HeaderMap::new();
        let media_type = if manifest.media_type.is_empty() {
            media_type::OCI_MANIFEST
        } else {
            manifest.media_type.as_str()
        };
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| {
                Error::InvalidInput(format!("media type {media_type:?} is not a header value"))
            })?,
        );
        let response = self
            .send_ok(
                repo,
                &Scope::push(&repo.name),
                Method::PUT,
                url,
                headers,
                Some(manifest.bytes.clone()),
                &format!("something manifest {} references", manifest.digest),
            )
            .await?;
        if let Some(stored) = header_digest(response.headers())
            && stored != manifest.digest
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest pushed to {repo}:{tag_or_digest}"),
                expected: manifest.digest.clone(),
                actual: stored.to_string(),
            });
        }
        Ok(())
    }
}
