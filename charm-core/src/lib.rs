//! charm-core: the Rust equivalent of the Python `ops` framework for Juju charms.

pub mod contract;
pub mod pebble;
