//! Events: canvasses, phone banks, rallies… each run for one candidate, in one time window,
//! with an optional capacity that decides who is registered and who waits.

use crate::input::{Fields, int_in, kind, uuid, with};
use crate::text::{Text, parse_web_url};
use crate::time::parse_timestamp;
use crate::{EventWindow, Patch, TimeZone, ValidationErrors, ZipCode, wire_enum};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

wire_enum!(
    /// What kind of organizing an event is.
    EventType {
        Canvass => "canvass", PhoneBank => "phone_bank", TextBank => "text_bank", Rally => "rally",
        Fundraiser => "fundraiser", Meeting => "meeting", Training => "training", Other => "other",
    }
);
wire_enum!(
    /// Who can see an event.
    Visibility { Public => "public", Private => "private" }
);
wire_enum!(
    /// Whether an event will happen, did, or won't.
    EventStatus { Scheduled => "scheduled", Cancelled => "cancelled", Completed => "completed" }
);

/// The largest capacity accepted; larger is a typo, not a rally.
pub const MAX_CAPACITY: i64 = 1_000_000;

/// Where an in-person event happens; every part optional, at least one given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
}

impl Location {
    fn parse(v: &Value) -> Result<Self, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("must be an object with venue, address, city, state, zip_code; not {}", kind(v)))?;
        let mut loc = Location::default();
        for (key, val) in obj {
            let s = match val {
                Value::Null => continue,
                Value::String(s) => s.as_str(),
                other => return Err(format!("{key} must be a string, not {}", kind(other))),
            };
            let part = |max| Text::parse(s, max).map(Text::into_string).map_err(|m| format!("{key} {m}"));
            match key.as_str() {
                "venue" => loc.venue = Some(part(200)?),
                "address" => loc.address = Some(part(300)?),
                "city" => loc.city = Some(part(100)?),
                "state" => {
                    let st = s.trim().to_ascii_uppercase();
                    if st.len() != 2 || !st.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err("state must be a two-letter code like MA".into());
                    }
                    loc.state = Some(st);
                }
                "zip_code" => {
                    loc.zip_code = Some(ZipCode::parse(s).map_err(|m| format!("zip_code {m}"))?.as_str().to_owned());
                }
                _ => {
                    return Err(format!(
                        "{key} is not a location field; expected venue, address, city, state, zip_code"
                    ));
                }
            }
        }
        if loc == Location::default() {
            return Err("must give at least one of venue, address, city, state, zip_code".into());
        }
        Ok(loc)
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: Uuid,
    pub candidate_id: Uuid,
    pub title: Text,
    pub description: Option<String>,
    pub event_type: EventType,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub starts_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub ends_at: DateTime<Utc>,
    pub timezone: TimeZone,
    pub location: Option<Location>,
    pub virtual_url: Option<String>,
    pub capacity: Option<i32>,
    pub visibility: Visibility,
    pub status: EventStatus,
    pub version: i64,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A valid event to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub candidate_id: Uuid,
    pub title: Text,
    pub description: Option<String>,
    pub event_type: EventType,
    pub window: EventWindow,
    pub timezone: TimeZone,
    pub location: Option<Location>,
    pub virtual_url: Option<String>,
    pub capacity: Option<i32>,
    pub visibility: Visibility,
    pub status: EventStatus,
}

/// A valid partial update; the window is checked again once merged with the stored one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPatch {
    pub candidate_id: Patch<Uuid>,
    pub title: Patch<Text>,
    pub description: Patch<Option<String>>,
    pub event_type: Patch<EventType>,
    pub starts_at: Patch<DateTime<Utc>>,
    pub ends_at: Patch<DateTime<Utc>>,
    pub timezone: Patch<TimeZone>,
    pub location: Patch<Option<Location>>,
    pub virtual_url: Patch<Option<String>>,
    pub capacity: Patch<Option<i32>>,
    pub visibility: Patch<Visibility>,
    pub status: Patch<EventStatus>,
}

/// The fields a client may send, in the order errors are reported.
pub const FIELDS: &[&str] = &[
    "candidate_id",
    "title",
    "description",
    "event_type",
    "starts_at",
    "ends_at",
    "timezone",
    "location",
    "virtual_url",
    "capacity",
    "visibility",
    "status",
];

fn title(v: &Value) -> Result<Text, String> {
    with(|s| Text::parse(s, 200))(v)
}
fn description(v: &Value) -> Result<String, String> {
    with(|s| Text::parse(s, 5000).map(Text::into_string))(v)
}
fn timestamp(v: &Value) -> Result<DateTime<Utc>, String> {
    with(parse_timestamp)(v)
}
fn capacity(v: &Value) -> Result<i32, String> {
    int_in(v, 1, MAX_CAPACITY).map(|n| i32::try_from(n).expect("bounded"))
}

impl NewEvent {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let candidate_id = f.required("candidate_id", uuid);
        let title_ = f.required("title", title);
        let description_ = f.optional("description", description);
        let event_type = f.required("event_type", with(EventType::parse));
        let starts_at = f.required("starts_at", timestamp);
        let ends_at = f.required("ends_at", timestamp);
        let timezone = f.optional("timezone", with(TimeZone::parse));
        let location = f.optional("location", Location::parse);
        let virtual_url = f.optional("virtual_url", with(parse_web_url));
        let capacity_ = f.optional("capacity", capacity);
        let visibility = f.optional("visibility", with(Visibility::parse));
        let status = f.optional("status", with(EventStatus::parse));
        let window = match (starts_at, ends_at) {
            (Some(s), Some(e)) => EventWindow::new(s, e).map_err(|m| f.error("ends_at", m)).ok(),
            _ => None,
        };
        f.finish(|| NewEvent {
            candidate_id: candidate_id.expect("checked"),
            title: title_.expect("checked"),
            description: description_,
            event_type: event_type.expect("checked"),
            window: window.expect("checked"),
            timezone: timezone.unwrap_or_else(TimeZone::utc),
            location,
            virtual_url,
            capacity: capacity_,
            visibility: visibility.unwrap_or(Visibility::Public),
            status: status.unwrap_or(EventStatus::Scheduled),
        })
    }
}

impl EventPatch {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let p = EventPatch {
            candidate_id: f.patch("candidate_id", uuid),
            title: f.patch("title", title),
            description: f.patch_nullable("description", description),
            event_type: f.patch("event_type", with(EventType::parse)),
            starts_at: f.patch("starts_at", timestamp),
            ends_at: f.patch("ends_at", timestamp),
            timezone: f.patch("timezone", with(TimeZone::parse)),
            location: f.patch_nullable("location", Location::parse),
            virtual_url: f.patch_nullable("virtual_url", with(parse_web_url)),
            capacity: f.patch_nullable("capacity", capacity),
            visibility: f.patch("visibility", with(Visibility::parse)),
            status: f.patch("status", with(EventStatus::parse)),
        };
        f.finish(|| p)
    }
}

impl Event {
    pub fn create(new: NewEvent, id: Uuid, now: DateTime<Utc>) -> Self {
        Event {
            id,
            candidate_id: new.candidate_id,
            title: new.title,
            description: new.description,
            event_type: new.event_type,
            starts_at: new.window.starts_at(),
            ends_at: new.window.ends_at(),
            timezone: new.timezone,
            location: new.location,
            virtual_url: new.virtual_url,
            capacity: new.capacity,
            visibility: new.visibility,
            status: new.status,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a patch, checking the merged window again (a new `starts_at` alone can pass
    /// the stored `ends_at`).
    pub fn apply(&mut self, p: EventPatch, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut starts_at = self.starts_at;
        let mut ends_at = self.ends_at;
        p.starts_at.apply(&mut starts_at);
        p.ends_at.apply(&mut ends_at);
        let window = EventWindow::new(starts_at, ends_at).map_err(|m| ValidationErrors::single("ends_at", m))?;
        self.starts_at = window.starts_at();
        self.ends_at = window.ends_at();
        p.candidate_id.apply(&mut self.candidate_id);
        p.title.apply(&mut self.title);
        p.description.apply(&mut self.description);
        p.event_type.apply(&mut self.event_type);
        p.timezone.apply(&mut self.timezone);
        p.location.apply(&mut self.location);
        p.virtual_url.apply(&mut self.virtual_url);
        p.capacity.apply(&mut self.capacity);
        p.visibility.apply(&mut self.visibility);
        p.status.apply(&mut self.status);
        self.version += 1;
        self.updated_at = now;
        Ok(())
    }

    /// Seats still free, `None` when unlimited.
    pub fn free_seats(&self, seated: i64) -> Option<i64> {
        self.capacity.map(|c| (i64::from(c) - seated).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"candidate_id": Uuid::now_v7().to_string(), "title": "Saturday canvass", "event_type": "canvass",
               "starts_at": "2026-11-07T14:00:00Z", "ends_at": "2026-11-07T17:00:00Z"})
    }

    #[test]
    fn defaults() {
        let e = NewEvent::from_json(base().as_object().unwrap()).unwrap();
        assert_eq!(e.timezone.as_str(), "UTC");
        assert_eq!(e.visibility, Visibility::Public);
        assert_eq!(e.status, EventStatus::Scheduled);
        assert_eq!(e.capacity, None);
    }

    #[test]
    fn window_capacity_and_location_checked() {
        let mut v = base();
        v["ends_at"] = json!("2026-11-07T13:00:00Z");
        v["capacity"] = json!(0);
        v["location"] = json!({"state": "Massachusetts"});
        v["timezone"] = json!("Nowhere/Special");
        let e = NewEvent::from_json(v.as_object().unwrap()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["timezone", "location", "capacity", "ends_at"]);
    }

    #[test]
    fn patch_rechecks_merged_window() {
        let now = Utc::now();
        let mut ev = Event::create(NewEvent::from_json(base().as_object().unwrap()).unwrap(), Uuid::now_v7(), now);
        let p = EventPatch::from_json(json!({"starts_at": "2026-11-08T00:00:00Z"}).as_object().unwrap()).unwrap();
        assert_eq!(ev.apply(p, now).unwrap_err().0[0].field, "ends_at");
        let p = EventPatch::from_json(
            json!({"capacity": null, "location": {"city": "Boston", "state": "ma"}}).as_object().unwrap(),
        )
        .unwrap();
        ev.apply(p, now).unwrap();
        assert_eq!(ev.location.unwrap().state.as_deref(), Some("MA"));
    }
}
