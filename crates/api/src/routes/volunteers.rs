//! `/v1/volunteers` and `/v1/volunteers/{id}/attendances`.

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
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_store::{BatchError, BatchOp, BatchOptions, ItemResult, Listed, Page, Result, Store, VolunteerFilter};
use serde_json::{Map, Value};
use uuid::Uuid;

#[async_trait]
impl Resource for Volunteer {
    const ENTITY: &'static str = "volunteer";
    const COLLECTION: &'static str = "volunteers";
    const FILTERS: &'static [&'static str] = &["candidate_id", "email", "zip_code", "tag"];
    type New = NewVolunteer;
    type Patch = VolunteerPatch;
    type Filter = VolunteerFilter;

    fn parse_new(body: &Map<String, Value>) -> Result<NewVolunteer, ValidationErrors> {
        NewVolunteer::from_json(body)
    }
    fn parse_patch(body: &Map<String, Value>) -> Result<VolunteerPatch, ValidationErrors> {
        VolunteerPatch::from_json(body)
    }
    fn parse_filter(q: &mut Query) -> VolunteerFilter {
        VolunteerFilter {
            candidate_id: q.uuid("candidate_id"),
            email: q.text("email"),
            zip_code: q.text("zip_code"),
            tag: q.text("tag"),
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
        Some(vec![candidate_ref(new.candidate_id)])
    }
    fn patch_references(patch: &Self::Patch) -> Vec<crate::access::Ref> {
        match patch.candidate_id {
            muster_domain::Patch::Set(c) => vec![candidate_ref(c)],
            muster_domain::Patch::Keep => Vec::new(),
        }
    }
    fn mask_contacts(&mut self) {
        self.email = muster_domain::Email::from_trusted(crate::redact::mask_email(self.email.as_str()));
        if let Some(p) = &self.phone {
            self.phone = Some(muster_domain::Phone::from_trusted(crate::redact::mask_phone(p.as_str())));
        }
    }
    const CONTACT_FILTERS: &'static [&'static str] = &["email"];
    const AUDITED: bool = true;
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }

    async fn create(store: &dyn Store, new: NewVolunteer) -> Result<Self> {
        store.create_volunteer(new).await
    }
    async fn get(store: &dyn Store, id: Uuid) -> Result<Self> {
        store.get_volunteer(id).await
    }
    async fn list(store: &dyn Store, filter: &VolunteerFilter, page: Page) -> Result<Listed<Self>> {
        store.list_volunteers(filter, page).await
    }
    async fn update(store: &dyn Store, id: Uuid, patch: VolunteerPatch, expected: Option<i64>) -> Result<Self> {
        store.update_volunteer(id, patch, expected).await
    }
    async fn delete(store: &dyn Store, id: Uuid, expected: Option<i64>) -> Result<()> {
        store.delete_volunteer(id, expected).await
    }
    async fn batch(
        store: &dyn Store,
        ops: Vec<BatchOp<NewVolunteer, VolunteerPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Self>>, BatchError> {
        store.batch_volunteers(ops, opts).await
    }
}

/// `GET /v1/volunteers/{id}/attendances`: where the volunteer signed up.
async fn list_volunteer_attendances(
    State(st): State<AppState>,
    caller: Option<axum::Extension<crate::principal::Principal>>,
    Id(id): Id,
    RawQuery(q): RawQuery,
    IfNoneMatch(inm): IfNoneMatch,
) -> ApiResult<Response> {
    resource::list_related::<Volunteer, Attendance>(&st, caller.as_deref(), id, q.as_deref(), inm.as_ref(), |f| {
        f.volunteer_id = Some(id);
    })
    .await
}

pub fn router() -> Router<AppState> {
    resource::routes::<Volunteer>()
        .route("/v1/volunteers/{id}/attendances", get(list_volunteer_attendances))
        .route("/v1/volunteers/import", axum::routing::post(super::import::import_volunteers))
}

/// The candidate a volunteer or an event names, as a reference a confined token must see.
pub(crate) fn candidate_ref(id: Option<Uuid>) -> crate::access::Ref {
    crate::access::Ref { field: "candidate_id", collection: "candidates", entity: "candidate", id }
}
