//! The Kubernetes controller that keeps a backup of every running image.
