//! Who is calling: the authentication layer puts a [`Principal`] in each `/v1` request's
//! extensions; handlers and middleware read it from there.

use crate::auth::Scopes;

/// The caller: a JWT subject, the scopes its token grants, and the candidates it is
/// confined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub scopes: Scopes,
    /// `Some`: the token's `candidates` claim, sorted: it sees and changes only what belongs
    /// to these candidates (see [`crate::access`]). `None`: every candidate's.
    pub candidates: Option<std::sync::Arc<[uuid::Uuid]>>,
}

impl Principal {
    pub const ANONYMOUS: &'static str = "anonymous";

    /// The subject found in a request's extensions, or `anonymous` outside `/v1`.
    pub fn subject_of(ext: &axum::http::Extensions) -> String {
        ext.get::<Principal>().map_or_else(|| Self::ANONYMOUS.to_owned(), |p| p.subject.clone())
    }
}
