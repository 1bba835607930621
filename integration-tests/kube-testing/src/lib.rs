//! What the tests against the cluster `KUBECONFIG` names share, so that each test binary of the
//! workspace (the controller's, cloudcasa's, the end-to-end ones) behaves the same on a bare
//! kube-apiserver (no controllers, no nodes) and on a real cluster (controller-manager,
//! scheduler, a Ready node).
//!
//! - [`cluster`]: connect, or say `SKIPPED` when `KUBECONFIG` is unset; whether this cluster
//!   can run pods ([`cluster::TestCluster::pod_runner`]) and the registry its nodes pull from.
//! - [`lock`]: a Lease that serialises tests touching cluster-wide singletons across test
//!   processes and machines; one left by a killed run expires.
//! - [`labels`]: the label on everything a test creates, so that a test tells its own debris
//!   (also a killed run's) from a user's objects.
//! - [`namespace`]: labelled namespaces, and deleting one with a bounded wait that stands in
//!   for the namespace controller where there is none.
//! - [`pods`]: what a workload's pods are doing (phase, conditions, waiting reasons, events),
//!   for failure messages, and `kubectl rollout status`'s notion of a finished rollout.
//! - [`manifests`]: committed YAML manifests applied labelled, and removed again.
//! - [`images`]: runnable FROM-scratch images (`test-pause`) pushed to a registry.
//! - [`wait`]: bounded polling whose timeout names what is still missing.
//! - [`report`]: one line past the test harness's capture (`SKIPPED ...`).

pub mod cluster;
pub mod images;
pub mod labels;
pub mod lock;
pub mod manifests;
pub mod namespace;
pub mod pods;
pub mod report;
pub mod wait;

pub use cluster::{PodRunner, TestCluster};
pub use lock::ClusterLock;
