pub mod admission;
pub mod fake_api;
pub mod objects;
