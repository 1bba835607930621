//! A client for Pebble, the service manager Juju runs in each workload container.
