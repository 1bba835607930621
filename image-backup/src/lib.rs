//! Image backup: OCI copier, Kubernetes controller and charm.
