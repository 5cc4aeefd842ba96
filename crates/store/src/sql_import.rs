//! Multi-row inserts of fully formed rows, the same for both SQL backends: one
//! `INSERT … VALUES` per chunk. A macro rather than generic code because the bind bounds
//! of a generic `QueryBuilder<DB>` would have to repeat for every column type.

/// Defines `insert_candidates`, `insert_volunteers`, `insert_events` and
/// `insert_attendances` for a backend: `$db` (sqlx database), `$conn` (its connection),
/// `$chunk` (rows per statement, within the bind-parameter limit), `$map_err` (its error
/// mapping).
#[macro_export]
macro_rules! bulk_inserts {
    ($db:ty, $conn:ty, $chunk:expr, $map_err:path) => {
        pub async fn insert_candidates(conn: &mut $conn, rows: &[::muster_domain::candidate::Candidate]) -> $crate::Result<()> {
            for chunk in rows.chunks($chunk) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO candidates (id, name, office, district, party, election_date, status, website, version, \
                     created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(c.id)
                        .push_bind(c.name.as_str())
                        .push_bind(c.office.as_str())
                        .push_bind(c.district.as_ref().map(|t| t.as_str()))
                        .push_bind(c.party.as_ref().map(|t| t.as_str()))
                        .push_bind(c.election_date)
                        .push_bind(c.status.as_str())
                        .push_bind(c.website.as_deref())
                        .push_bind(c.version)
                        .push_bind(c.created_at)
                        .push_bind(c.updated_at);
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
            }
            Ok(())
        }

        pub async fn insert_volunteers(conn: &mut $conn, rows: &[::muster_domain::volunteer::Volunteer]) -> $crate::Result<()> {
            for chunk in rows.chunks($chunk) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, \
                     candidate_id, tags, version, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, v| {
                    b.push_bind(v.id)
                        .push_bind(v.first_name.as_str())
                        .push_bind(v.last_name.as_str())
                        .push_bind(v.email.as_str())
                        .push_bind(v.email.normalized())
                        .push_bind(v.phone.as_ref().map(|p| p.as_str()))
                        .push_bind(v.zip_code.as_ref().map(|z| z.as_str()))
                        .push_bind(v.candidate_id)
                        .push_bind(::sqlx::types::Json(&v.tags))
                        .push_bind(v.version)
                        .push_bind(v.created_at)
                        .push_bind(v.updated_at);
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
            }
            Ok(())
        }

        pub async fn insert_events(conn: &mut $conn, rows: &[::muster_domain::event::Event]) -> $crate::Result<()> {
            for chunk in rows.chunks($chunk) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO events (id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, \
                     location, virtual_url, capacity, visibility, status, version, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.id)
                        .push_bind(e.candidate_id)
                        .push_bind(e.title.as_str())
                        .push_bind(e.description.as_deref())
                        .push_bind(e.event_type.as_str())
                        .push_bind(e.starts_at)
                        .push_bind(e.ends_at)
                        .push_bind(e.timezone.as_str())
                        .push_bind(e.location.as_ref().map(::sqlx::types::Json))
                        .push_bind(e.virtual_url.as_deref())
                        .push_bind(e.capacity)
                        .push_bind(e.visibility.as_str())
                        .push_bind(e.status.as_str())
                        .push_bind(e.version)
                        .push_bind(e.created_at)
                        .push_bind(e.updated_at);
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
            }
            Ok(())
        }

        pub async fn insert_attendances(conn: &mut $conn, rows: &[::muster_domain::attendance::Attendance]) -> $crate::Result<()> {
            for chunk in rows.chunks($chunk) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO attendances (id, event_id, volunteer_id, status, checked_in_at, version, created_at, \
                     updated_at) ",
                );
                qb.push_values(chunk, |mut b, a| {
                    b.push_bind(a.id)
                        .push_bind(a.event_id)
                        .push_bind(a.volunteer_id)
                        .push_bind(a.status.as_str())
                        .push_bind(a.checked_in_at)
                        .push_bind(a.version)
                        .push_bind(a.created_at)
                        .push_bind(a.updated_at);
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
            }
            Ok(())
        }
    };
}
