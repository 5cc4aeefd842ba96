//! The audit trail's statements, the same for both SQL backends (through `QueryBuilder`,
//! so each dialect writes its own placeholders). A macro for the reason `sql_import` gives.
//! The one dialect difference, finding the entries that name a volunteer, is the backend's
//! `$names_volunteer` (PostgreSQL: `@>` on jsonb, GIN-indexed; SQLite: `json_each`).

/// Defines `insert_audit`, `list_audit` and `purge_audit` for a backend: `$db` (sqlx
/// database), `$conn` (its connection type), `$map_err` (its error mapping), and
/// `$names_volunteer` (`fn(&mut QueryBuilder<$db>, Uuid)`: pushes a condition that the
/// entry's `volunteer_ids` holds that id).
#[macro_export]
macro_rules! audit_statements {
    ($db:ty, $conn:ty, $map_err:path, $names_volunteer:path) => {
        /// Rows per `INSERT`: 11 binds each, within SQLite's parameter limit.
        const AUDIT_CHUNK: usize = 500;
        const AUDIT_COLUMNS: &str =
            "id, at, last_at, subject, action, route, volunteer_ids, count, query, request_ids, build";

        pub async fn insert_audit(conn: &mut $conn, entries: &[$crate::AuditEntry]) -> $crate::Result<()> {
            for chunk in entries.chunks(AUDIT_CHUNK) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) "));
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.id)
                        .push_bind(e.at)
                        .push_bind(e.last_at)
                        .push_bind(e.subject.as_str())
                        .push_bind(e.action.as_str())
                        .push_bind(e.route.as_str())
                        .push_bind(::sqlx::types::Json(&e.volunteer_ids))
                        .push_bind(e.count)
                        .push_bind(e.query.as_deref())
                        // space-separated text: the cheapest form for thousands a second
                        .push_bind(e.request_ids.join(" "))
                        .push_bind(e.build.as_str());
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
            }
            Ok(())
        }

        pub async fn list_audit(
            conn: &mut $conn,
            q: &$crate::AuditQuery,
        ) -> $crate::Result<$crate::Listed<$crate::AuditEntry>> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
            if let Some(s) = &q.subject {
                qb.push(" AND subject = ").push_bind(s.as_str());
            }
            if let Some(v) = q.volunteer_id {
                qb.push(" AND ");
                $names_volunteer(&mut qb, v);
            }
            if let Some(t) = q.from {
                qb.push(" AND last_at >= ").push_bind(t);
            }
            if let Some(t) = q.to {
                qb.push(" AND at < ").push_bind(t);
            }
            if let Some(after) = q.page.after {
                qb.push(" AND id < ").push_bind(after);
            }
            qb.push(" ORDER BY id DESC").push(q.page.limit_sql());
            type Row = (
                ::uuid::Uuid,
                ::chrono::DateTime<::chrono::Utc>,
                ::chrono::DateTime<::chrono::Utc>,
                String,
                String,
                String,
                ::sqlx::types::Json<Vec<::uuid::Uuid>>,
                i64,
                Option<String>,
                String,
                String,
            );
            let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *conn).await.map_err($map_err)?;
            let entries = rows
                .into_iter()
                .map(|(id, at, last_at, subject, action, route, ids, count, query, request_ids, build)| {
                    $crate::AuditEntry {
                        id,
                        at,
                        last_at,
                        subject,
                        action,
                        route,
                        volunteer_ids: ids.0,
                        count,
                        query,
                        request_ids: request_ids.split_whitespace().map(str::to_owned).collect(),
                        build,
                    }
                })
                .collect();
            Ok(q.page.finish(entries, |e: &$crate::AuditEntry| e.id))
        }

        pub async fn purge_audit(conn: &mut $conn, before: ::chrono::DateTime<::chrono::Utc>) -> $crate::Result<u64> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new("DELETE FROM audit_log WHERE last_at < ");
            qb.push_bind(before);
            let done = qb.build().execute(&mut *conn).await.map_err($map_err)?;
            Ok(done.rows_affected())
        }
    };
}
