//! The image-backup charm: deploys and configures the controller through Pebble.
