//! Muster's domain: the values the API accepts and the rules they obey.
//!
//! Every type here is built by a `parse` constructor that refuses bad input, so a value
//! that exists is valid ("parse, don't validate"). Nothing here knows about HTTP or SQL:
//! the API parses requests into these types at the edge, and the stores persist them.

pub mod attendance;
pub mod candidate;
pub mod error;
pub mod event;
pub mod flag;
pub mod input;
pub mod text;
pub mod volunteer;

mod contact;
mod time;

pub use contact::{Email, Phone, ZipCode};
pub use error::{FieldError, ValidationErrors};
pub use time::{EventWindow, TimeZone, now_micros, parse_timestamp, rfc3339, truncate_micros};

/// A field of a partial update: absent (keep), or set to a value (`None` clears a nullable
/// field). `Option<Option<T>>` would say the same, less clearly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the patch to `current`.
    pub fn apply(self, current: &mut T) {
        if let Patch::Set(v) = self {
            *current = v;
        }
    }

    /// True when the patch changes nothing.
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}
