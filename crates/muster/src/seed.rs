//! `muster seed`: realistic demo data, generated deterministically from a seed number and
//! loaded with the store's bulk import: on PostgreSQL into empty tables, `COPY` with the
//! indexes and keys built afterwards (a million volunteers load well within a minute);
//! otherwise multi-row statements. Every row obeys the domain rules: attendances respect capacity (the overflow
//! waits), past events have attended and no-show volunteers, future ones registrations.

use crate::store::Opened;
use chrono::{DateTime, Duration, Timelike, Utc};
use muster_domain::attendance::{Attendance, AttendanceStatus};
use muster_domain::candidate::{Candidate, CandidateStatus};
use muster_domain::event::{Event, EventStatus, EventType, Location, Visibility};
use muster_domain::text::Text;
use muster_domain::volunteer::{Tag, Volunteer};
use muster_domain::{Email, Phone, TimeZone, ZipCode, now_micros};
use muster_store::Import;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Candidates to create.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub candidates: u32,
    /// Volunteers to create.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub volunteers: u32,
    /// Events to create, from two weeks ago to six weeks ahead.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub events: u32,
    /// Attendances to create (at most volunteers × events).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(0..=50_000_000))]
    pub attendances: u32,
    /// Seed for the generator: the same number gives the same people and events.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "June", "Kofi", "Lena", "Mateo", "Nia",
    "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Garcia", "Smith", "Nguyen", "Okafor", "Kim", "Rossi", "Cohen", "Singh", "Lopez", "Brown", "Haddad", "Novak",
    "Silva", "Murphy", "Tanaka", "Johnson", "Williams", "Martinez", "Ahmed", "Kowalski",
];
const OFFICES: &[&str] = &["City Council", "Mayor", "State House", "State Senate", "School Board", "County Commission"];
const PARTIES: &[&str] = &["Independent", "Green", "Democratic", "Republican", "Working Families"];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Boston", "MA", "02139", "America/New_York"),
    ("Chicago", "IL", "60614", "America/Chicago"),
    ("Denver", "CO", "80205", "America/Denver"),
    ("Oakland", "CA", "94612", "America/Los_Angeles"),
    ("Atlanta", "GA", "30310", "America/New_York"),
    ("Austin", "TX", "78702", "America/Chicago"),
];
const TAGS: &[&str] = &["spanish", "driver", "canvasser", "phone", "data-entry", "host", "student", "veteran"];

/// Generates and loads the data, then prints what it did.
pub async fn run(store: &Opened, args: &SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = generate(args, now_micros());
    let counts = (data.candidates.len(), data.volunteers.len(), data.events.len(), data.attendances.len());
    match store {
        Opened::Postgres(s) => s.import(&data).await?,
        Opened::Sqlite(s) => s.import(&data).await?,
    }
    println!(
        "seeded {} candidates, {} volunteers, {} events, {} attendances in {:.2} s",
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn text(s: &str) -> Text {
    Text::parse(s, 200).expect("seed text is valid")
}

/// Builds the rows; pure, so tests can check the rules hold.
pub fn generate(args: &SeedArgs, now: DateTime<Utc>) -> Import {
    let mut rng = StdRng::seed_from_u64(args.seed);
    // ids must sort in creation order (UUIDv7), and rows seeded in one millisecond still do
    let mut next_id = id_source(now);
    let candidates: Vec<Candidate> = (0..args.candidates)
        .map(|i| Candidate {
            id: next_id(),
            name: text(&format!("{} {}", FIRST.choose(&mut rng).unwrap(), LAST.choose(&mut rng).unwrap())),
            office: text(OFFICES[i as usize % OFFICES.len()]),
            district: Some(text(&format!("District {}", 1 + i % 9))),
            party: Some(text(PARTIES.choose(&mut rng).unwrap())),
            election_date: Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 3).expect("valid date")),
            status: CandidateStatus::Active,
            website: Some(format!("https://candidate{i}.example.org")),
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let volunteers: Vec<Volunteer> = (0..args.volunteers)
        .map(|i| {
            let first = FIRST.choose(&mut rng).unwrap();
            let last = LAST.choose(&mut rng).unwrap();
            let city = CITIES.choose(&mut rng).unwrap();
            let tags = (0..rng.random_range(0..3)).map(|_| Tag::parse(TAGS.choose(&mut rng).unwrap()).unwrap());
            let mut tag_list: Vec<Tag> = Vec::new();
            for t in tags {
                if !tag_list.contains(&t) {
                    tag_list.push(t);
                }
            }
            Volunteer {
                id: next_id(),
                first_name: text(first),
                last_name: text(last),
                email: Email::parse(&format!("{}.{}.{i}@example.org", first.to_lowercase(), last.to_lowercase()))
                    .expect("seed email is valid"),
                // 555-01xx numbers are reserved for fiction
                phone: Some(Phone::parse(&format!("+1617555{:04}", 100 + i % 100)).expect("seed phone is valid")),
                zip_code: Some(ZipCode::parse(city.2).expect("seed zip is valid")),
                candidate_id: candidates.choose(&mut rng).map(|c| c.id),
                tags: tag_list,
                version: 1,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let types = EventType::ALL;
    let events: Vec<Event> = (0..args.events)
        .map(|i| {
            let city = CITIES.choose(&mut rng).unwrap();
            let day = rng.random_range(-14..42);
            let start = (now + Duration::days(day))
                .with_hour(rng.random_range(14..23))
                .unwrap()
                .with_minute(0)
                .unwrap()
                .with_second(0)
                .unwrap()
                .with_nanosecond(0)
                .unwrap();
            let event_type = *types.choose(&mut rng).unwrap();
            let is_virtual = matches!(event_type, EventType::PhoneBank | EventType::TextBank);
            Event {
                id: next_id(),
                candidate_id: candidates.choose(&mut rng).expect("at least one candidate").id,
                title: text(&format!("{} in {} #{i}", event_type.as_str().replace('_', " "), city.0)),
                description: Some("Bring water and comfortable shoes. Training at the start.".into()),
                event_type,
                starts_at: start,
                ends_at: start + Duration::hours(rng.random_range(2..4)),
                timezone: TimeZone::parse(city.3).expect("seed zone is valid"),
                location: (!is_virtual).then(|| Location {
                    venue: Some(format!("{} Community Center", city.0)),
                    address: Some(format!("{} Main St", 100 + i % 900)),
                    city: Some(city.0.into()),
                    state: Some(city.1.into()),
                    zip_code: Some(city.2.into()),
                }),
                virtual_url: is_virtual.then(|| format!("https://meet.example.org/{i}")),
                capacity: if rng.random_bool(0.1) { None } else { Some(rng.random_range(10..100)) },
                visibility: if rng.random_bool(0.9) { Visibility::Public } else { Visibility::Private },
                status: if day < 0 { EventStatus::Completed } else { EventStatus::Scheduled },
                version: 1,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let attendances = attendances(&mut rng, &volunteers, &events, args.attendances as usize, now, &mut next_id);
    Import { candidates, volunteers, events, attendances }
}

/// UUIDv7 ids that strictly increase even within one millisecond.
fn id_source(now: DateTime<Utc>) -> impl FnMut() -> Uuid {
    let ts = now.timestamp_millis() as u64;
    let mut counter: u64 = 0;
    move || {
        counter += 1;
        // 48-bit ms timestamp and version 7, then the RFC 9562 variant and a counter where
        // the random bits would be
        let hi = (ts << 16) | 0x7000;
        let lo = (0b10u64 << 62) | (counter & 0x3fff_ffff_ffff_ffff);
        Uuid::from_u64_pair(hi, lo)
    }
}

fn attendances(
    rng: &mut StdRng,
    volunteers: &[Volunteer],
    events: &[Event],
    wanted: usize,
    now: DateTime<Utc>,
    next_id: &mut impl FnMut() -> Uuid,
) -> Vec<Attendance> {
    if volunteers.is_empty() || events.is_empty() {
        return Vec::new();
    }
    let wanted = wanted.min(volunteers.len() * events.len());
    let per_volunteer = wanted.div_ceil(volunteers.len());
    let mut seated = vec![0i64; events.len()];
    let mut out = Vec::with_capacity(wanted);
    'outer: for v in volunteers {
        for ei in rand::seq::index::sample(rng, events.len(), per_volunteer.min(events.len())) {
            if out.len() == wanted {
                break 'outer;
            }
            let e = &events[ei];
            let past = e.starts_at < now;
            let mut status = muster_domain::attendance::admit(e.capacity, seated[ei]);
            if status == AttendanceStatus::Registered {
                if rng.random_bool(0.08) {
                    status = AttendanceStatus::Cancelled;
                } else if past {
                    status = if rng.random_bool(0.8) { AttendanceStatus::Attended } else { AttendanceStatus::NoShow };
                }
            }
            if status.holds_seat() {
                seated[ei] += 1;
            }
            out.push(Attendance {
                id: next_id(),
                event_id: e.id,
                volunteer_id: v.id,
                status,
                checked_in_at: (status == AttendanceStatus::Attended).then(|| e.starts_at + Duration::minutes(5)),
                version: 1,
                created_at: now,
                updated_at: now,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn args() -> SeedArgs {
        SeedArgs { candidates: 5, volunteers: 300, events: 20, attendances: 900, seed: 7 }
    }

    #[test]
    fn rows_obey_the_rules() {
        let data = generate(&args(), now_micros());
        assert_eq!(data.attendances.len(), 900);
        let emails: HashSet<_> = data.volunteers.iter().map(|v| v.email.normalized()).collect();
        assert_eq!(emails.len(), 300, "emails are unique");
        let pairs: HashSet<_> = data.attendances.iter().map(|a| (a.event_id, a.volunteer_id)).collect();
        assert_eq!(pairs.len(), 900, "one attendance per volunteer and event");
        let mut seated: HashMap<Uuid, i64> = HashMap::new();
        for a in data.attendances.iter().filter(|a| a.status.holds_seat()) {
            *seated.entry(a.event_id).or_default() += 1;
        }
        for e in &data.events {
            if let Some(c) = e.capacity {
                assert!(seated.get(&e.id).copied().unwrap_or(0) <= i64::from(c), "capacity respected");
            }
            assert!(e.ends_at > e.starts_at);
        }
        let ids: Vec<Uuid> = data.volunteers.iter().map(|v| v.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase in creation order");
    }

    #[test]
    fn same_seed_same_data() {
        let now = now_micros();
        let a = generate(&args(), now);
        let b = generate(&args(), now);
        assert_eq!(a.volunteers, b.volunteers);
        assert_eq!(a.attendances, b.attendances);
    }
}
