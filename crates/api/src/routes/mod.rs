//! The route table: one module per resource, each owning its `router()`.

pub mod admin;
pub mod attendances;
pub mod candidates;
pub mod client_errors;
pub mod docs;
pub mod events;
pub mod flags;
pub mod import;
pub mod ofrep;
pub mod ops;
pub mod volunteers;
