//! The CRUD contract shared by the four resources, written once.
//!
//! Each resource module (`routes/*.rs`) says how its body, patch and filters parse and
//! which store calls it makes by implementing [`Resource`]; the handlers here turn that
//! into HTTP: 201 + `Location` + `ETag` on create, `If-None-Match` → 304 on read, `If-Match`
//! → 412 on change, 204 on delete, `{"data", "next_cursor"}` lists.

use crate::AppState;
use crate::access::{self, Access, Ref};
use crate::audit::Who;
use crate::cache::{Entry, Outcome};
use crate::extract::{Id, IfNoneMatch, JsonObject, Query, etag, if_match, not_modified};
use crate::problem::{ApiError, ApiResult};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use muster_domain::ValidationErrors;
use muster_store::{
    BatchError, BatchOp, BatchOptions, ItemResult, Listed, Page, Result as StoreResult, Store, StoreError,
};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A resource served under `/v1/{COLLECTION}`.
#[async_trait]
pub trait Resource: Serialize + Send + Sync + Sized + 'static {
    /// Singular, for messages: "volunteer".
    const ENTITY: &'static str;
    /// Plural, the path segment: "volunteers".
    const COLLECTION: &'static str;
    /// Query parameters the list accepts besides `limit`, `cursor`, `updated_since`.
    const FILTERS: &'static [&'static str];

    type New: Send;
    type Patch: Send;
    type Filter: Send + Sync + Default;

    fn parse_new(body: &Map<String, Value>) -> Result<Self::New, ValidationErrors>;
    fn parse_patch(body: &Map<String, Value>) -> Result<Self::Patch, ValidationErrors>;
    /// Reads the resource's filters (and `updated_since`) from the query.
    fn parse_filter(q: &mut Query) -> Self::Filter;
    /// Restricts a list to these rows (`?ids=`).
    fn only_ids(filter: &mut Self::Filter, ids: Vec<Uuid>);
    /// Restricts a list to the rows these candidates own (a confined token).
    fn confine(filter: &mut Self::Filter, candidates: Vec<Uuid>);
    /// What a new row points at, which a confined token must see; `None` when a confined
    /// token may not create this resource at all.
    fn references(new: &Self::New) -> Option<Vec<Ref>>;
    /// What a change points at anew (a volunteer moved to another candidate).
    fn patch_references(_patch: &Self::Patch) -> Vec<Ref> {
        Vec::new()
    }
    /// Masks the row's contact details (for callers without the `contacts` scope).
    fn mask_contacts(&mut self) {}
    /// Filters on contact details, which need the `contacts` scope.
    const CONTACT_FILTERS: &'static [&'static str] = &[];
    /// Whether changes to these rows, and responses showing their contact details, go to
    /// the audit trail ([`crate::audit`]).
    const AUDITED: bool = false;
    fn id(&self) -> Uuid;
    fn version(&self) -> i64;

    async fn create(store: &dyn Store, new: Self::New) -> StoreResult<Self>;
    async fn get(store: &dyn Store, id: Uuid) -> StoreResult<Self>;
    async fn list(store: &dyn Store, filter: &Self::Filter, page: Page) -> StoreResult<Listed<Self>>;
    async fn update(store: &dyn Store, id: Uuid, patch: Self::Patch, expected: Option<i64>) -> StoreResult<Self>;
    async fn delete(store: &dyn Store, id: Uuid, expected: Option<i64>) -> StoreResult<()>;
    async fn batch(
        store: &dyn Store,
        ops: Vec<BatchOp<Self::New, Self::Patch>>,
        opts: BatchOptions,
    ) -> Result<Vec<ItemResult<Self>>, BatchError>;

    fn location(id: Uuid) -> String {
        format!("/v1/{}/{id}", Self::COLLECTION)
    }
}

/// The five routes of a resource.
pub fn routes<R: Resource>() -> Router<AppState> {
    Router::new()
        .route(&format!("/v1/{}", R::COLLECTION), get(list::<R>).post(create::<R>))
        .route(&format!("/v1/{}/{{id}}", R::COLLECTION), get(read::<R>).patch(update::<R>).delete(delete::<R>))
        .route(&format!("/v1/{}/batch", R::COLLECTION), axum::routing::post(crate::batch::handle::<R>))
}

/// A row as JSON with its `ETag`.
pub fn with_etag<R: Resource>(status: StatusCode, row: &R) -> Response {
    let mut resp = json_response(status, row);
    if let Ok(v) = HeaderValue::from_str(&etag(row.version())) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// A list page: `{"data": [...], "next_cursor": ...}`; a batch GET adds `missing`.
#[derive(Serialize)]
struct ListBody<R> {
    data: Vec<R>,
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<Vec<Uuid>>,
}

/// A list page, uncached (lists that are not one of the four resources).
pub fn page_body<R: Serialize>(listed: Listed<R>) -> Response {
    json_response(
        StatusCode::OK,
        &ListBody { data: listed.items, next_cursor: listed.next.map(|c| c.encode()), missing: None },
    )
}

/// Serves a list of `R` through the cache. `key` names the query (and the parent of a
/// related route); the ETag is a digest of the page, so an unchanged page is a 304.
async fn cached_list<R: Resource>(
    st: &AppState,
    access: &Access,
    key: &str,
    mut q: ListQuery<R::Filter>,
    if_none_match: Option<&HeaderValue>,
) -> ApiResult<(Response, Entry)> {
    let store = &*st.store;
    if let Some(c) = access.confined() {
        R::confine(&mut q.filter, c.to_vec());
    }
    let key = [key, &access.view()].concat();
    let load = || async move {
        let mut listed = R::list(store, &q.filter, q.page).await?;
        if !access.contacts {
            listed.items.iter_mut().for_each(R::mask_contacts);
        }
        let missing = q.ids.map(|ids| {
            let found: std::collections::HashSet<Uuid> = listed.items.iter().map(Resource::id).collect();
            let mut seen = std::collections::HashSet::new();
            ids.into_iter().filter(|id| !found.contains(id) && seen.insert(*id)).collect()
        });
        let page = ListBody { data: listed.items, next_cursor: listed.next.map(|c| c.encode()), missing };
        let body = crate::list_format::to_bytes(q.format, &page)?;
        Entry::new(format!("\"l{}\"", crate::cache::short_hash(&body)), body)
    };
    let (entry, outcome) = if access.confined().is_some() {
        st.cache.confined(R::COLLECTION, &key, load).await?
    } else {
        st.cache.list(R::COLLECTION, &key, load).await?
    };
    count_lookup(st, R::COLLECTION, outcome);
    Ok((cached_response(if_none_match, &entry, outcome), entry))
}

/// The query string with its pairs sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry.
fn normalized(raw: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    pairs.sort();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

async fn create<R: Resource>(
    State(st): State<AppState>,
    access: Access,
    who: Who,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let new = R::parse_new(&body)?;
    access::check_refs(&st, &access, &access::creatable::<R>(&access, &new)?).await?;
    let row = R::create(&*st.store, new).await?;
    invalidate::<R>(&st, &[], false).await;
    st.metrics.created(&row);
    audit_change::<R>(&st, who, "create", vec![row.id()]);
    let location = R::location(row.id());
    let mut resp = with_etag(StatusCode::CREATED, &access::shown(&access, row));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn read<R: Resource>(
    State(st): State<AppState>,
    access: Access,
    who: Who,
    Id(id): Id,
    IfNoneMatch(inm): IfNoneMatch,
) -> ApiResult<Response> {
    let store = &*st.store;
    let (entry, outcome) = match access.confined() {
        // a confined token reads through the same rule as its lists: one query, or 404
        Some(c) => {
            let key = [id.to_string(), access.view()].concat();
            let candidates = c.to_vec();
            let view = &access;
            st.cache
                .confined(R::COLLECTION, &key, || async move {
                    let mut filter = R::Filter::default();
                    R::only_ids(&mut filter, vec![id]);
                    R::confine(&mut filter, candidates);
                    let listed = R::list(store, &filter, Page { limit: 1, after: None }).await?;
                    let row = listed.items.into_iter().next().ok_or(StoreError::NotFound { entity: R::ENTITY })?;
                    let row = access::shown(view, row);
                    Entry::new(etag(row.version()), to_json(&row)?)
                })
                .await?
        }
        None => {
            let contacts = access.contacts;
            st.cache
                .row(
                    R::COLLECTION,
                    id,
                    muster_store::rows_change_by_side_effect(R::COLLECTION),
                    contacts,
                    || async move {
                        let mut row = R::get(store, id).await?;
                        if !contacts {
                            row.mask_contacts();
                        }
                        Entry::new(etag(row.version()), to_json(&row)?)
                    },
                )
                .await?
        }
    };
    count_lookup(&st, R::COLLECTION, outcome);
    let resp = cached_response(inm.as_ref(), &entry, outcome);
    if R::AUDITED && access.contacts && resp.status() == StatusCode::OK {
        st.audit.record(who.seen("read", vec![id], 1, None));
    }
    Ok(resp)
}

/// `value` as an `application/json` response (a 500 problem if it cannot be written).
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match to_json(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, APPLICATION_JSON)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<Bytes> {
    crate::json::to_vec(value).map(Bytes::from).map_err(|e| ApiError::internal(format!("serialising a response: {e}")))
}

/// A cached (or cacheable) body: 304 when the client has it, else 200. Clients may keep
/// authenticated data but must revalidate it (`private, no-cache`), which the ETag makes a
/// cheap 304.
pub fn cached_response(if_none_match: Option<&HeaderValue>, entry: &Entry, outcome: Outcome) -> Response {
    let unchanged = entry.etag.to_str().is_ok_and(|tag| not_modified(if_none_match, tag));
    let mut resp = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(axum::body::Body::from(entry.body.clone()))
    };
    let h = resp.headers_mut();
    // room for every header the response will carry (the gate's and the edge's too), so
    // the map is allocated once instead of growing and rehashing twice on the way out
    h.reserve(RESPONSE_HEADERS);
    if !unchanged {
        h.insert(header::CONTENT_TYPE, APPLICATION_JSON);
    }
    h.insert(header::ETAG, entry.etag.clone());
    h.insert(header::CACHE_CONTROL, PRIVATE_NO_CACHE);
    h.insert(
        X_CACHE.clone(),
        match outcome {
            Outcome::Hit => X_CACHE_HIT,
            Outcome::Miss => X_CACHE_MISS,
            Outcome::Bypass => X_CACHE_BYPASS,
        },
    );
    resp
}

// constants, so their bytes are checked once, when compiled (`from_static` at run time
// checks them on every call)
pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const PRIVATE_NO_CACHE: HeaderValue = HeaderValue::from_static("private, no-cache");
const X_CACHE_HIT: HeaderValue = HeaderValue::from_static("hit");
const X_CACHE_MISS: HeaderValue = HeaderValue::from_static("miss");
const X_CACHE_BYPASS: HeaderValue = HeaderValue::from_static("bypass");

/// Counts a cache lookup in the metrics (a bypass is an error unless caching is off).
fn count_lookup(st: &AppState, resource: &str, outcome: Outcome) {
    match outcome {
        Outcome::Hit => st.metrics.cache_hit(resource),
        Outcome::Miss => st.metrics.cache_miss(resource),
        Outcome::Bypass if st.cache.mode() != crate::cache::CacheMode::None => st.metrics.cache_error(resource),
        Outcome::Bypass => {}
    }
}

/// How many headers a cached read answers with: content type and length, ETag,
/// Cache-Control, X-Cache, the two RateLimit headers, five security headers, the request
/// id and the build.
const RESPONSE_HEADERS: usize = 14;

pub static X_CACHE: axum::http::HeaderName = axum::http::HeaderName::from_static("x-cache");

/// Drops what a write to `ids` of `R` made stale; `changed` when rows were updated or
/// deleted (not only created), which can move other rows too. An invalidation Redis missed
/// counts as a cache error.
pub async fn invalidate<R: Resource>(st: &AppState, ids: &[Uuid], changed: bool) {
    let done = if changed {
        // what else changed is the store's rule; the cache drops those lists and rows wholesale
        let also = muster_store::side_effects(R::COLLECTION);
        st.cache.wrote(R::COLLECTION, ids, also.lists_of, also.rows_of).await
    } else {
        st.cache.wrote(R::COLLECTION, &[], &[], &[]).await
    };
    if !done {
        st.metrics.cache_error(R::COLLECTION);
    }
}

/// A parsed list query; `ids` is set for a batch GET (`?ids=a,b,c`).
struct ListQuery<F> {
    filter: F,
    page: Page,
    ids: Option<Vec<Uuid>>,
    /// `?format=`: objects, or compact (a table) where the caller's flag allows it.
    format: crate::list_format::ListFormat,
}

/// Parses a list query for `R`, letting `scope` pin a filter (the parent of a related route),
/// and keeps the `ids` of a batch GET (the page then fits them all).
fn list_query_ids<R: Resource>(
    access: &Access,
    raw: Option<&str>,
    scope: impl FnOnce(&mut R::Filter),
) -> ApiResult<ListQuery<R::Filter>> {
    let known = [R::FILTERS, &[crate::list_format::PARAM]].concat();
    let mut q = Query::parse(raw, &known)?;
    access::check_filters::<R>(access, &q)?;
    let mut filter = R::parse_filter(&mut q);
    let mut page = q.page();
    let ids = q.ids();
    let format = q.get(crate::list_format::PARAM, crate::list_format::ListFormat::parse);
    q.finish()?;
    scope(&mut filter);
    if let Some(ids) = &ids {
        R::only_ids(&mut filter, ids.clone());
        page.limit = page.limit.max(u32::try_from(ids.len()).unwrap_or(u32::MAX));
    }
    Ok(ListQuery { filter, page, ids, format: format.unwrap_or(crate::list_format::ListFormat::Objects) })
}

async fn list<R: Resource>(
    State(st): State<AppState>,
    caller: Option<axum::Extension<crate::principal::Principal>>,
    who: Who,
    RawQuery(raw): RawQuery,
    IfNoneMatch(inm): IfNoneMatch,
) -> ApiResult<Response> {
    let access = Access::of(caller.as_deref());
    let q = list_query_ids::<R>(&access, raw.as_deref(), |_| {})?;
    crate::list_format::check(&st, caller.as_deref(), q.format).await?;
    let key = normalized(raw.as_deref());
    let (resp, entry) = cached_list::<R>(&st, &access, &key, q, inm.as_ref()).await?;
    if R::AUDITED && access.contacts && resp.status() == StatusCode::OK {
        let rows = crate::audit::rows_in(&entry.body);
        st.audit.record(who.seen("read", Vec::new(), rows, Some(&key)));
    }
    Ok(resp)
}

async fn update<R: Resource>(
    State(st): State<AppState>,
    access: Access,
    who: Who,
    Id(id): Id,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    // the body's problems first: a bad body is a 422 whatever the precondition says
    let patch = R::parse_patch(&body)?;
    let expected = if_match(&headers)?;
    access::check_row::<R>(&st, &access, id).await?;
    access::check_refs(&st, &access, &R::patch_references(&patch)).await?;
    let row = R::update(&*st.store, id, patch, expected).await?;
    invalidate::<R>(&st, &[id], true).await;
    audit_change::<R>(&st, who, "update", vec![id]);
    Ok(with_etag(StatusCode::OK, &access::shown(&access, row)))
}

async fn delete<R: Resource>(
    State(st): State<AppState>,
    access: Access,
    who: Who,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let expected = if_match(&headers)?;
    access::check_row::<R>(&st, &access, id).await?;
    R::delete(&*st.store, id, expected).await?;
    invalidate::<R>(&st, &[id], true).await;
    audit_change::<R>(&st, who, "delete", vec![id]);
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a change to rows of an audited resource on the audit trail.
pub fn audit_change<R: Resource>(st: &AppState, who: Who, action: &'static str, ids: Vec<Uuid>) {
    if R::AUDITED && !ids.is_empty() {
        let n = ids.len();
        st.audit.record(who.seen(action, ids, n, None));
    }
}

/// A related list (`/v1/events/{id}/attendances`): 404 when the parent is missing, else
/// the child list with the parent's filter pinned.
pub async fn list_related<P: Resource, C: Resource>(
    st: &AppState,
    caller: Option<&crate::principal::Principal>,
    parent: Uuid,
    raw: Option<&str>,
    if_none_match: Option<&HeaderValue>,
    scope: impl FnOnce(&mut C::Filter) + Send,
) -> ApiResult<Response> {
    let access = Access::of(caller);
    let q = list_query_ids::<C>(&access, raw, scope)?;
    crate::list_format::check(st, caller, q.format).await?;
    // one lookup of the parent: a confined token's also says whether it may see it
    if access.confined().is_some() {
        access::check_row::<P>(st, &access, parent).await?;
    } else {
        P::get(&*st.store, parent).await.map_err(ApiError::from)?;
    }
    let key = format!("{}/{parent}?{}", P::COLLECTION, normalized(raw));
    // related lists hold attendances and events, which carry no contact details
    Ok(cached_list::<C>(st, &access, &key, q, if_none_match).await?.0)
}
