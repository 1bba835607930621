//! Walking a manifest tree: which manifests the destination lacks, and the blobs they need.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Contents, Descriptor, Manifest};
use crate::reference::Selector;
use crate::registry::{Client, Repository};

/// Nested indexes deeper than this are refused rather than followed forever.
const MAX_DEPTH: usize = 4;

/// What a copy has to do, children before parents.
pub struct Plan {
    /// Manifests to push by digest, deepest level first; the root is not among them.
    pub children: Vec<Vec<Manifest>>,
    /// Blobs referenced by the manifests to push, each once, in first-seen order.
    pub blobs: Vec<Descriptor>,
    /// Child manifests the destination already had (their blobs are not even checked).
    pub manifests_present: usize,
}

impl Plan {
    pub fn manifests_to_push(&self) -> usize {
        self.children.iter().map(Vec::len).sum::<usize>() + 1
    }

    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Fetches every manifest under `root` from `source` that `destination` lacks, `jobs` at a
/// time, and collects the blobs they reference.
pub async fn plan(
    client: &Client,
    source: &Repository,
    destination: &Repository,
    root: &Manifest,
    jobs: usize,
) -> Result<Plan, Error> {
    let mut blobs = BTreeMap::<Digest, (usize, Descriptor)>::new();
    let mut seen_manifests = HashSet::from([root.digest.clone()]);
    let mut levels: Vec<Vec<Manifest>> = Vec::new();
    let mut manifests_present = 0;
    let mut frontier = vec![root.clone()];

    for depth in 0.. {
        let mut children = Vec::new();
        for manifest in &frontier {
            let contents = manifest
                .contents()
                .map_err(|reason| Error::InvalidManifest {
                    registry: source.registry.clone(),
                    reference: format!("{}@{}", source.name, manifest.digest),
                    reason,
                })?;
            match contents {
                Contents::Image { config, layers } => {
                    for blob in std::iter::once(config).chain(layers) {
                        if blob.is_foreign() {
                            continue;
                        }
                        let order = blobs.len();
                        blobs.entry(blob.digest.clone()).or_insert((order, blob));
                    }
                }
                Contents::Index { manifests } => {
                    for child in manifests {
                        if seen_manifests.insert(child.digest.clone()) {
                            children.push(child);
                        }
                    }
                }
            }
        }
        if depth > 0 {
            levels.push(frontier);
        }
        if children.is_empty() {
            break;
        }
        if depth + 1 > MAX_DEPTH {
            return Err(Error::InvalidManifest {
                registry: source.registry.clone(),
                reference: format!("{}@{}", source.name, root.digest),
                reason: format!("indexes nested deeper than {MAX_DEPTH} levels"),
            });
        }
        let fetched: Vec<Option<Manifest>> = futures::stream::iter(children)
            .map(|child| async move {
                let selector = Selector::Digest(&child.digest);
                if client
                    .head_manifest(destination, &selector)
                    .await?
                    .is_some()
                {
                    return Ok(None);
                }
                client.get_manifest(source, &selector).await.map(Some)
            })
            .buffered(jobs.max(1))
            .try_collect()
            .await?;
        manifests_present += fetched.iter().filter(|m| m.is_none()).count();
        frontier = fetched.into_iter().flatten().collect();
    }

    levels.reverse();
    let mut ordered: Vec<(usize, Descriptor)> = blobs.into_values().collect();
    ordered.sort_by_key(|(order, _)| *order);
    Ok(Plan {
        children: levels,
        blobs: ordered.into_iter().map(|(_, d)| d).collect(),
        manifests_present,
    })
}
