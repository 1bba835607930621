//! The CloudCasa agent charm.
