//! OCI image copier: digest-preserving copies between registries.
