//! Typed relation contracts: messages mapped to Juju data bags and back.
