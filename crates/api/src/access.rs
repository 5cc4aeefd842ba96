//! Who may see whom: tokens confined to candidates, and contact details behind their own
//! scope (OWASP API Security's broken object- and property-level authorization).
//!
//! - A token with a `candidates` claim sees and changes only what those candidates own
//!   ([`muster_store::owners`] states the rule once, for both SQL backends). Anything else
//!   answers 404, as a row that does not exist does, so other campaigns' ids are not
//!   confirmed; a new row or a change that points at something the token cannot see is
//!   refused the way a missing reference is.
//! - Volunteers' `email` and `phone` are shown only to tokens with the `contacts` scope
//!   (`admin` implies it); others get them masked as the logs mask them, and may not
//!   filter by them.

use crate::AppState;
use crate::auth::Scope;
use crate::principal::Principal;
use crate::problem::{ApiError, ApiResult};
use crate::resource::Resource;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use muster_domain::event::Event;
use muster_domain::volunteer::Volunteer;
use muster_domain::{FieldError, ValidationErrors};
use muster_store::{Page, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// What the caller may see, read from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `Some`: only what these candidates own (sorted). `None`: everything.
    pub candidates: Option<Arc<[Uuid]>>,
    /// Whether contact details are shown unmasked.
    pub contacts: bool,
}

impl Access {
    /// The caller's access; a request that carries no principal (none reaches a resource
    /// route: the gate puts one on every `/v1` request) sees contacts masked.
    pub fn of(principal: Option<&Principal>) -> Access {
        match principal {
            Some(p) => Access { candidates: p.candidates.clone(), contacts: p.scopes.allows(Scope::Contacts) },
            None => Access { candidates: None, contacts: false },
        }
    }

    /// The candidates the caller is confined to, if it is.
    pub fn confined(&self) -> Option<&[Uuid]> {
        self.candidates.as_deref()
    }

    /// Names the view a response is built for, in cache keys: the contacts view keeps the
    /// keys it always had; the masked view and each confinement get their own.
    pub fn view(&self) -> String {
        let ids = self.confined().unwrap_or_default();
        let mut v = String::with_capacity(4 + ids.len() * 32);
        if !self.contacts {
            v.push_str(":m");
        }
        if self.candidates.is_some() {
            v.push_str(":c");
            let mut buf = Uuid::encode_buffer();
            for id in ids {
                v.push_str(id.simple().encode_lower(&mut buf));
            }
        }
        v
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Access::of(parts.extensions.get::<Principal>()))
    }
}

/// Something a new row or a change points at, which a confined token must be able to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ref {
    /// The body field that names it, for the error.
    pub field: &'static str,
    /// `candidates`, `events` or `volunteers`.
    pub collection: &'static str,
    /// Singular, for the error: `candidate`.
    pub entity: &'static str,
    /// `None`: the field names nothing (a volunteer without a candidate), which a confined
    /// token may not write: the row would belong to no one it may see.
    pub id: Option<Uuid>,
}

/// The rows of `R` among `ids` that `candidates` own: one list query, the same rule as lists.
pub async fn owned<R: Resource>(st: &AppState, candidates: &[Uuid], ids: &[Uuid]) -> ApiResult<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut filter = R::Filter::default();
    R::only_ids(&mut filter, ids.to_vec());
    R::confine(&mut filter, candidates.to_vec());
    let limit = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let listed = R::list(&*st.store, &filter, Page { limit, after: None }).await?;
    Ok(listed.items.iter().map(Resource::id).collect())
}

/// 404, as for a missing row, unless `access` may see row `id` of `R`.
pub async fn check_row<R: Resource>(st: &AppState, access: &Access, id: Uuid) -> ApiResult<()> {
    match access.confined() {
        Some(c) if !owned::<R>(st, c, &[id]).await?.contains(&id) => {
            Err(StoreError::NotFound { entity: R::ENTITY }.into())
        }
        _ => Ok(()),
    }
}

/// The references among `refs` that `candidates` may not see: `(index into refs, error)`.
/// One query per referenced collection, however many rows point at it.
pub async fn refused_refs(st: &AppState, candidates: &[Uuid], refs: &[Ref]) -> ApiResult<Vec<(usize, StoreError)>> {
    let ids_of = |collection: &str| -> Vec<Uuid> {
        let mut v: Vec<Uuid> = refs.iter().filter(|r| r.collection == collection).filter_map(|r| r.id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let events = owned::<Event>(st, candidates, &ids_of("events")).await?;
    let volunteers = owned::<Volunteer>(st, candidates, &ids_of("volunteers")).await?;
    let mut refused = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let Some(id) = r.id else {
            let message = format!("a token confined to candidates must name one of them as `{}`", r.field);
            refused.push((i, StoreError::Invalid(ValidationErrors(vec![FieldError::new(r.field, message)]))));
            continue;
        };
        let seen = match r.collection {
            "candidates" => candidates.binary_search(&id).is_ok(),
            "events" => events.contains(&id),
            "volunteers" => volunteers.contains(&id),
            _ => false,
        };
        if !seen {
            refused.push((i, StoreError::missing_reference(r.field, r.entity, id)));
        }
    }
    Ok(refused)
}

/// Refuses a write whose references a confined token cannot see, as a missing one is.
pub async fn check_refs(st: &AppState, access: &Access, refs: &[Ref]) -> ApiResult<()> {
    let Some(c) = access.confined() else { return Ok(()) };
    match refused_refs(st, c, refs).await?.into_iter().next() {
        Some((_, e)) => Err(e.into()),
        None => Ok(()),
    }
}

/// What a confined token may create of `R`: its references, or a 403 for a resource it may
/// not create at all (candidates: a new one would be outside its own set).
pub fn creatable<R: Resource>(access: &Access, new: &R::New) -> ApiResult<Vec<Ref>> {
    match (access.confined(), R::references(new)) {
        (None, _) => Ok(Vec::new()),
        (Some(_), Some(refs)) => Ok(refs),
        (Some(_), None) => Err(confined_forbidden(R::COLLECTION)),
    }
}

/// The 403 for what no confined token may do.
pub fn confined_forbidden(collection: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient-scope",
        "Insufficient scope",
        format!("a token confined to candidates cannot create {collection}"),
    )
}

/// Refuses filters on contact details without the `contacts` scope.
pub fn check_filters<R: Resource>(access: &Access, q: &crate::extract::Query) -> ApiResult<()> {
    if access.contacts {
        return Ok(());
    }
    match R::CONTACT_FILTERS.iter().find(|k| q.has(k)) {
        Some(k) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
            format!("filtering {} by `{k}` needs the `contacts` scope", R::COLLECTION),
        )),
        None => Ok(()),
    }
}

/// The row as `access` may see it.
pub fn shown<R: Resource>(access: &Access, mut row: R) -> R {
    if !access.contacts {
        row.mask_contacts();
    }
    row
}

/// Attendances are seen through both their event and their volunteer: the references a
/// confined token's attendance must be able to see.
pub fn attendance_refs(event_id: Uuid, volunteer_id: Uuid) -> Vec<Ref> {
    vec![
        Ref { field: "event_id", collection: "events", entity: "event", id: Some(event_id) },
        Ref { field: "volunteer_id", collection: "volunteers", entity: "volunteer", id: Some(volunteer_id) },
    ]
}
