//! End-to-end tests: packed charms under a hook-tool simulator.

pub mod charm;
pub mod fixture;
pub mod model;
pub mod state;
pub mod store;
pub mod tools;

pub use model::{Deploy, Hook, HookCall, Model, ModelError};
