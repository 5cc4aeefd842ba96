//! `/v1/events` and `/v1/events/{id}/attendances`.

use crate::AppState;
use crate::extract::{Id, IfNoneMatch, Query};
use crate::problem::ApiResult;
use crate::resource::{self, Resource};
use async_trait::async_trait;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use muster_domain::ValidationErrors;
use muster_domain::attendance::Attendance;
use muster_domain::event::{Event, EventPatch, EventStatus, EventType, NewEvent, Visibility};
use muster_store::{BatchError, BatchOp, BatchOptions, EventFilter, ItemResult, Listed, Page, Result, Store};
use serde_json::{Map, Value};
use uuid::Uuid;

#[async_trait]
impl Resource for Event {
    const ENTITY: &'static str = "event";
    const COLLECTION: &'static str = "events";
    const FILTERS: &'static [&'static str] =
        &["candidate_id", "event_type", "status", "visibility", "starts_after", "starts_before"];
    type New = NewEvent;
    type Patch = EventPatch;
    type Filter = EventFilter;

    fn parse_new(body: &Map<String, Value>) -> Result<NewEvent, ValidationErrors> {
        NewEvent::from_json(body)
    }
    fn parse_patch(body: &Map<String, Value>) -> Result<EventPatch, ValidationErrors> {
        EventPatch::from_json(body)
    }
    fn parse_filter(q: &mut Query) -> EventFilter {
        EventFilter {
            candidate_id: q.uuid("candidate_id"),
            event_type: q.get("event_type", EventType::parse),
            status: q.get("status", EventStatus::parse),
            visibility: q.get("visibility", Visibility::parse),
            starts_after: q.timestamp("starts_after"),
            starts_before: q.timestamp("starts_before"),
            updated_since: q.timestamp("updated_since"),
            ids: None,
            candidates: None,
        }
    }
    fn only_ids(filter: &mut Self::Filter, ids: Vec<Uuid>) {
        filter.ids = Some(ids);
    }
    fn confine(filter: &mut Self::Filter, candidates: Vec<Uuid>) {
        filter.candidates = Some(candidates);
    }
    fn references(new: &Self::New) -> Option<Vec<crate::access::Ref>> {
        Some(vec![super::volunteers::candidate_ref(Some(new.candidate_id))])
    }
    fn patch_references(patch: &Self::Patch) -> Vec<crate::access::Ref> {
        match patch.candidate_id {
            muster_domain::Patch::Set(c) => vec![super::volunteers::candidate_ref(Some(c))],
            muster_domain::Patch::Keep => Vec::new(),
        }
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }

    async fn create(store: &dyn Store, new: NewEvent) -> Result<Self> {
        store.create_event(new).await
    }
    async fn get(store: &dyn Store, id: Uuid) -> Result<Self> {
        store.get_event(id).await
    }
    async fn list(store: &dyn Store, filter: &EventFilter, page: Page) -> Result<Listed<Self>> {
        store.list_events(filter, page).await
    }
    async fn update(store: &dyn Store, id: Uuid, patch: EventPatch, expected: Option<i64>) -> Result<Self> {
        store.update_event(id, patch, expected).await
    }
    async fn delete(store: &dyn Store, id: Uuid, expected: Option<i64>) -> Result<()> {
        store.delete_event(id, expected).await
    }
    async fn batch(
        store: &dyn Store,
        ops: Vec<BatchOp<NewEvent, EventPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Self>>, BatchError> {
        store.batch_events(ops, opts).await
    }
}

/// `GET /v1/events/{id}/attendances`: who signed up, with the attendance filters.
async fn list_event_attendances(
    State(st): State<AppState>,
    caller: Option<axum::Extension<crate::principal::Principal>>,
    Id(id): Id,
    RawQuery(q): RawQuery,
    IfNoneMatch(inm): IfNoneMatch,
) -> ApiResult<Response> {
    resource::list_related::<Event, Attendance>(&st, caller.as_deref(), id, q.as_deref(), inm.as_ref(), |f| {
        f.event_id = Some(id);
    })
    .await
}

pub fn router() -> Router<AppState> {
    resource::routes::<Event>().route("/v1/events/{id}/attendances", get(list_event_attendances))
}
