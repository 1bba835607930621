//! Relation contracts and gRPC services, described in `.proto` files.
