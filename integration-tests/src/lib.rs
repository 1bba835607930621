//! End-to-end tests: packed charms under a hook-tool simulator.
