//! Test fixtures (feature `testing`): a real registry per test and random images to fill it.
//!
//! ```no_run
//! # async fn demo() {
//! use image_backup_copier::testing::{TestImage, TestRegistry, push_image, test_client};
//!
//! let registry = TestRegistry::start(); // fails the test if docker-registry is missing
//! let image = TestImage::random(&[1024, 2048], None);
//! let reference = registry.reference("team/app:1");
//! push_image(&test_client(&[&registry]), &reference, &image).await.unwrap();
//! # }
//! ```

mod image;
mod server;

pub use image::{TestImage, TestIndex, push_image, push_index, random_bytes};
pub use server::{AccessLogEntry, TestRegistry, TestRegistryBuilder};

use crate::auth::CredentialStore;
use crate::registry::{Client, ClientOptions};
use crate::retry::RetryPolicy;

/// Credentials for every registry in `registries` that has any.
pub fn credentials_for(registries: &[&TestRegistry]) -> CredentialStore {
    let mut store = CredentialStore::new();
    for registry in registries {
        if let Some(credentials) = registry.credentials() {
            store.insert(&registry.host(), credentials);
        }
    }
    store
}

/// Client options for tests: credentials of `registries`, and short retries so failure tests
/// end quickly.
pub fn test_client_options(registries: &[&TestRegistry]) -> ClientOptions {
    ClientOptions {
        credentials: credentials_for(registries),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_millis(200),
            max_elapsed: std::time::Duration::from_secs(5),
        },
        ..ClientOptions::default()
    }
}

/// A client that can push to `registries`.
pub fn test_client(registries: &[&TestRegistry]) -> Client {
    match Client::new(test_client_options(registries)) {
        Ok(client) => client,
        Err(e) => panic!("cannot build a registry client: {e}"),
    }
}
