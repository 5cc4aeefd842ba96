//! The CRUD contract shared by the four resources, written once.
//!
//! Each resource module (`routes/*.rs`) says how its body, patch and filters parse and
//! which store calls it makes by implementing [`Resource`]; the handlers here turn that
//! into HTTP: 201 + `Location` + `ETag` on create, `If-None-Match` → 304 on read, `If-Match`
//! → 412 on change, 204 on delete, `{"data", "next_cursor"}` lists.

use crate::AppState;
use crate::extract::{Id, JsonObject, Query, etag, if_match, not_modified};
use crate::problem::{ApiError, ApiResult};
use async_trait::async_trait;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use muster_domain::ValidationErrors;
use muster_store::{BatchError, BatchOp, BatchOptions, ItemResult, Listed, Page, Result as StoreResult, Store};
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
        .route(
            &format!("/v1/{}/batch", R::COLLECTION),
            axum::routing::post(crate::batch::handle::<R>)
                .layer(axum::extract::DefaultBodyLimit::max(crate::BATCH_BODY_LIMIT)),
        )
}

/// A row as JSON with its `ETag`.
pub fn with_etag<R: Resource>(status: StatusCode, row: &R) -> Response {
    let mut resp = (status, Json(row)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(row.version())) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// A list page as `{"data": [...], "next_cursor": ...}`.
pub fn page_body<R: Serialize>(listed: Listed<R>) -> Response {
    #[derive(Serialize)]
    struct Body<R> {
        data: Vec<R>,
        next_cursor: Option<String>,
    }
    Json(Body { data: listed.items, next_cursor: listed.next.map(|c| c.encode()) }).into_response()
}

async fn create<R: Resource>(State(st): State<AppState>, JsonObject(body): JsonObject) -> ApiResult<Response> {
    let new = R::parse_new(&body)?;
    let row = R::create(&*st.store, new).await?;
    let mut resp = with_etag(StatusCode::CREATED, &row);
    if let Ok(v) = HeaderValue::from_str(&R::location(row.id())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn read<R: Resource>(State(st): State<AppState>, Id(id): Id, headers: HeaderMap) -> ApiResult<Response> {
    let row = R::get(&*st.store, id).await?;
    if not_modified(&headers, row.version()) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(row.version())) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(resp);
    }
    Ok(with_etag(StatusCode::OK, &row))
}

/// Parses a list query for `R`, letting `scope` pin a filter (the parent of a related route).
pub fn list_query<R: Resource>(raw: Option<&str>, scope: impl FnOnce(&mut R::Filter)) -> ApiResult<(R::Filter, Page)> {
    let mut q = Query::parse(raw, R::FILTERS)?;
    let mut filter = R::parse_filter(&mut q);
    let page = q.page();
    q.finish()?;
    scope(&mut filter);
    Ok((filter, page))
}

async fn list<R: Resource>(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let (filter, page) = list_query::<R>(raw.as_deref(), |_| {})?;
    Ok(page_body(R::list(&*st.store, &filter, page).await?))
}

async fn update<R: Resource>(
    State(st): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let patch = R::parse_patch(&body)?;
    let row = R::update(&*st.store, id, patch, expected).await?;
    Ok(with_etag(StatusCode::OK, &row))
}

async fn delete<R: Resource>(State(st): State<AppState>, Id(id): Id, headers: HeaderMap) -> ApiResult<StatusCode> {
    let expected = if_match(&headers)?;
    R::delete(&*st.store, id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A related list (`/v1/events/{id}/attendances`): 404 when the parent is missing, else
/// the child list with the parent's filter pinned.
pub async fn list_related<P: Resource, C: Resource>(
    st: &AppState,
    parent: Uuid,
    raw: Option<&str>,
    scope: impl FnOnce(&mut C::Filter) + Send,
) -> ApiResult<Response> {
    let (filter, page) = list_query::<C>(raw, scope)?;
    P::get(&*st.store, parent).await.map_err(ApiError::from)?;
    Ok(page_body(C::list(&*st.store, &filter, page).await?))
}
