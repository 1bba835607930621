//! The backup-integrator subordinate charm.
