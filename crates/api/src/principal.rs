//! Who is calling. The authentication layer puts a [`Principal`] in the request's
//! extensions; until it does (requests without credentials), the caller is anonymous.

/// The caller: a JWT subject once authentication runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
}

impl Principal {
    pub const ANONYMOUS: &'static str = "anonymous";

    /// The subject found in a request's extensions, or `anonymous`.
    pub fn subject_of(ext: &axum::http::Extensions) -> String {
        ext.get::<Principal>().map_or_else(|| Self::ANONYMOUS.to_owned(), |p| p.subject.clone())
    }
}
