//! `/v1/candidates` and `/v1/candidates/{id}/events`.

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
use muster_domain::candidate::{Candidate, CandidatePatch, CandidateStatus, NewCandidate};
use muster_domain::event::Event;
use muster_store::{BatchError, BatchOp, BatchOptions, CandidateFilter, ItemResult, Listed, Page, Result, Store};
use serde_json::{Map, Value};
use uuid::Uuid;

#[async_trait]
impl Resource for Candidate {
    const ENTITY: &'static str = "candidate";
    const COLLECTION: &'static str = "candidates";
    const FILTERS: &'static [&'static str] = &["status", "office", "party", "district"];
    type New = NewCandidate;
    type Patch = CandidatePatch;
    type Filter = CandidateFilter;

    fn parse_new(body: &Map<String, Value>) -> Result<NewCandidate, ValidationErrors> {
        NewCandidate::from_json(body)
    }
    fn parse_patch(body: &Map<String, Value>) -> Result<CandidatePatch, ValidationErrors> {
        CandidatePatch::from_json(body)
    }
    fn parse_filter(q: &mut Query) -> CandidateFilter {
        CandidateFilter {
            status: q.get("status", CandidateStatus::parse),
            office: q.text("office"),
            party: q.text("party"),
            district: q.text("district"),
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
    fn references(_new: &Self::New) -> Option<Vec<crate::access::Ref>> {
        None
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }

    async fn create(store: &dyn Store, new: NewCandidate) -> Result<Self> {
        store.create_candidate(new).await
    }
    async fn get(store: &dyn Store, id: Uuid) -> Result<Self> {
        store.get_candidate(id).await
    }
    async fn list(store: &dyn Store, filter: &CandidateFilter, page: Page) -> Result<Listed<Self>> {
        store.list_candidates(filter, page).await
    }
    async fn update(store: &dyn Store, id: Uuid, patch: CandidatePatch, expected: Option<i64>) -> Result<Self> {
        store.update_candidate(id, patch, expected).await
    }
    async fn delete(store: &dyn Store, id: Uuid, expected: Option<i64>) -> Result<()> {
        store.delete_candidate(id, expected).await
    }
    async fn batch(
        store: &dyn Store,
        ops: Vec<BatchOp<NewCandidate, CandidatePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Self>>, BatchError> {
        store.batch_candidates(ops, opts).await
    }
}

/// `GET /v1/candidates/{id}/events`: the candidate's events, with the event filters.
async fn list_candidate_events(
    State(st): State<AppState>,
    caller: Option<axum::Extension<crate::principal::Principal>>,
    Id(id): Id,
    RawQuery(q): RawQuery,
    IfNoneMatch(inm): IfNoneMatch,
) -> ApiResult<Response> {
    resource::list_related::<Candidate, Event>(&st, caller.as_deref(), id, q.as_deref(), inm.as_ref(), |f| {
        f.candidate_id = Some(id);
    })
    .await
}

pub fn router() -> Router<AppState> {
    resource::routes::<Candidate>().route("/v1/candidates/{id}/events", get(list_candidate_events))
}
