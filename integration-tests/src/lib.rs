//! End-to-end tests: packed charms under a hook-tool simulator.

pub mod charm;
pub mod state;
pub mod store;
pub mod tools;
