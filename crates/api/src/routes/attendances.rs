//! `/v1/attendances` and `POST /v1/attendances/{id}/check-in`. The capacity, waitlist and
//! check-in rules are the domain's (`muster_domain::attendance`), applied by the store.

use crate::AppState;
use crate::extract::{Id, Query};
use crate::problem::ApiResult;
use crate::resource::{self, Resource};
use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use muster_domain::ValidationErrors;
use muster_domain::attendance::{Attendance, AttendancePatch, AttendanceStatus, NewAttendance};
use muster_store::{AttendanceFilter, BatchError, BatchOp, BatchOptions, ItemResult, Listed, Page, Result, Store};
use serde_json::{Map, Value};
use uuid::Uuid;

#[async_trait]
impl Resource for Attendance {
    const ENTITY: &'static str = "attendance";
    const COLLECTION: &'static str = "attendances";
    const FILTERS: &'static [&'static str] = &["event_id", "volunteer_id", "status"];
    type New = NewAttendance;
    type Patch = AttendancePatch;
    type Filter = AttendanceFilter;

    fn parse_new(body: &Map<String, Value>) -> Result<NewAttendance, ValidationErrors> {
        NewAttendance::from_json(body)
    }
    fn parse_patch(body: &Map<String, Value>) -> Result<AttendancePatch, ValidationErrors> {
        AttendancePatch::from_json(body)
    }
    fn parse_filter(q: &mut Query) -> AttendanceFilter {
        AttendanceFilter {
            event_id: q.uuid("event_id"),
            volunteer_id: q.uuid("volunteer_id"),
            status: q.get("status", AttendanceStatus::parse),
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
        Some(crate::access::attendance_refs(new.event_id, new.volunteer_id))
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }

    async fn create(store: &dyn Store, new: NewAttendance) -> Result<Self> {
        store.create_attendance(new).await
    }
    async fn get(store: &dyn Store, id: Uuid) -> Result<Self> {
        store.get_attendance(id).await
    }
    async fn list(store: &dyn Store, filter: &AttendanceFilter, page: Page) -> Result<Listed<Self>> {
        store.list_attendances(filter, page).await
    }
    async fn update(store: &dyn Store, id: Uuid, patch: AttendancePatch, expected: Option<i64>) -> Result<Self> {
        store.update_attendance(id, patch, expected).await
    }
    async fn delete(store: &dyn Store, id: Uuid, expected: Option<i64>) -> Result<()> {
        store.delete_attendance(id, expected).await
    }
    async fn batch(
        store: &dyn Store,
        ops: Vec<BatchOp<NewAttendance, AttendancePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Self>>, BatchError> {
        store.batch_attendances(ops, opts).await
    }
}

/// `POST /v1/attendances/{id}/check-in`: marks a registered volunteer as attended.
/// Checking in twice returns the first check-in unchanged.
async fn check_in(State(st): State<AppState>, access: crate::access::Access, Id(id): Id) -> ApiResult<Response> {
    crate::access::check_row::<Attendance>(&st, &access, id).await?;
    let started = muster_domain::now_micros();
    let a = st.store.check_in(id).await?;
    resource::invalidate::<Attendance>(&st, &[id], true).await;
    // a repeated check-in returns the first one unchanged: count only one made by this call
    if a.checked_in_at.is_some_and(|at| at >= started) {
        st.metrics.checked_in();
    }
    Ok(resource::with_etag(StatusCode::OK, &a))
}

pub fn router() -> Router<AppState> {
    resource::routes::<Attendance>().route("/v1/attendances/{id}/check-in", post(check_in))
}
