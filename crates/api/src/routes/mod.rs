//! The route table: one module per resource, each owning its `router()`.

pub mod admin;
pub mod attendances;
pub mod candidates;
pub mod events;
pub mod ops;
pub mod volunteers;
