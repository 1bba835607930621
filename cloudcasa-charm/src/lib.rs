//! The CloudCasa agent charm.
//!
//! The charm installs CloudCasa's agent (`cloudcasa-kubeagent-manager`) in namespace
//! `cloudcasa-io` of the cluster it is deployed on, keeps it applied across every lifecycle
//! event, and reports how it is doing. `main.rs` hands [`CloudCasa`] to charm-core; the rest:
//!
//! - [`charm`]: what each hook does, and when a hook fails (read its docs first).
//! - [`cluster_id`], [`owner`], [`image`], [`resource`], [`agent_image`]: the typed inputs: the
//!   `clusterid` option, the Juju model and application that own the objects, and the agent's
//!   image (the `cloudcasa-image` resource, from `resource-get` or the charm's own pod).
//! - [`objects`]: pure functions building the desired objects, identical in names and content to
//!   the original Python charm's so that `juju refresh` adopts what it created.
//! - [`connection`]: how the charm reaches the API server (in-cluster, or `KUBECONFIG`).
//! - [`cluster`]: applies the objects with server-side apply (field manager
//!   [`cluster::FIELD_MANAGER`], forced: the charm's config is the source of truth), reads the
//!   deployment's [`availability`], and removes everything on `remove`.
//! - [`retry`] and [`outcome`]: API errors are retried inside the call within a bounded time;
//!   403 is an [`outcome::Outcome::Forbidden`], not an error.
//! - [`status`]: the pure decision from all that to the unit's status.
//! - [`protection`]: the optional `image-backup` relation: the leader asks the image-backup charm
//!   to back up the agent's image, and every unit's status message ends with how that stands
//!   (nothing is added, asked or written without the relation).
//!
//! Choices a user would otherwise have to guess:
//! - `clusterid` empty or invalid: everything but the deployment is applied, and an existing
//!   deployment is left running (clearing the option by mistake must not unregister the
//!   cluster); the unit is Blocked saying what to do.
//! - The objects are cluster-wide singletons. If they carry another Juju application's labels,
//!   the charm changes nothing and says so; unlabelled ones (the Python charm's) are adopted.
//! - `stop` fires on every charm pod restart, so it changes nothing; only `remove`, when the
//!   application goes away, deletes (binding and namespace; the namespace takes the rest).
//! - Registry credentials in the resource are not passed on: the agent's pod pulls its image
//!   without a pull secret, as the Python charm's did (a warning says so when it matters).
//! - TLS: kube uses rustls with the `ring` provider. Binaries and tests that open real
//!   connections install it first: `rustls::crypto::ring::default_provider().install_default()`.

pub mod agent_image;
pub mod availability;
pub mod charm;
pub mod cluster;
pub mod cluster_id;
pub mod connection;
pub mod image;
pub mod objects;
pub mod outcome;
pub mod owner;
pub mod protection;
pub mod resource;
pub mod retry;
pub mod status;

pub use charm::CloudCasa;
