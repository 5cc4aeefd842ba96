//! The audit trail's statements, the same for both SQL backends (through `QueryBuilder`,
//! so each dialect writes its own placeholders). A macro for the reason `sql_import` gives.

/// Defines `insert_audit`, `list_audit` and `purge_audit` for a backend: `$db` (sqlx
/// database), `$conn` (its connection type), `$map_err` (its error mapping).
#[macro_export]
macro_rules! audit_statements {
    ($db:ty, $conn:ty, $map_err:path) => {
        /// Rows per `INSERT`: 10 binds each, within SQLite's parameter limit.
        const AUDIT_CHUNK: usize = 500;

        pub async fn insert_audit(conn: &mut $conn, entries: &[$crate::AuditEntry]) -> $crate::Result<()> {
            use ::sqlx::Connection as _;
            // an entry and the links naming its volunteers commit together
            let mut tx = conn.begin().await.map_err($map_err)?;
            let conn = &mut *tx;
            for chunk in entries.chunks(AUDIT_CHUNK) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO audit_log (id, at, subject, action, route, volunteer_ids, count, query, request_id, build) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.id)
                        .push_bind(e.at)
                        .push_bind(e.subject.as_str())
                        .push_bind(e.action.as_str())
                        .push_bind(e.route.as_str())
                        .push_bind(::sqlx::types::Json(&e.volunteer_ids))
                        .push_bind(e.count)
                        .push_bind(e.query.as_deref())
                        .push_bind(e.request_id.as_deref())
                        .push_bind(e.build.as_str());
                });
                qb.build().execute(&mut *conn).await.map_err($map_err)?;
                let links: Vec<(::uuid::Uuid, ::uuid::Uuid)> =
                    chunk.iter().flat_map(|e| e.volunteer_ids.iter().map(|v| (*v, e.id))).collect();
                for part in links.chunks(AUDIT_CHUNK) {
                    let mut qb = ::sqlx::QueryBuilder::<$db>::new("INSERT INTO audit_volunteers (volunteer_id, audit_id) ");
                    qb.push_values(part, |mut b, (v, a)| {
                        b.push_bind(*v).push_bind(*a);
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut *conn).await.map_err($map_err)?;
                }
            }
            tx.commit().await.map_err($map_err)?;
            Ok(())
        }

        pub async fn list_audit(
            conn: &mut $conn,
            q: &$crate::AuditQuery,
        ) -> $crate::Result<$crate::Listed<$crate::AuditEntry>> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                "SELECT id, at, subject, action, route, volunteer_ids, count, query, request_id, build FROM audit_log \
                 WHERE 1 = 1",
            );
            if let Some(s) = &q.subject {
                qb.push(" AND subject = ").push_bind(s.as_str());
            }
            if let Some(v) = q.volunteer_id {
                qb.push(" AND id IN (SELECT audit_id FROM audit_volunteers WHERE volunteer_id = ").push_bind(v).push(")");
            }
            if let Some(t) = q.from {
                qb.push(" AND at >= ").push_bind(t);
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
                String,
                String,
                String,
                ::sqlx::types::Json<Vec<::uuid::Uuid>>,
                i64,
                Option<String>,
                Option<String>,
                String,
            );
            let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *conn).await.map_err($map_err)?;
            let entries = rows
                .into_iter()
                .map(|(id, at, subject, action, route, ids, count, query, request_id, build)| $crate::AuditEntry {
                    id,
                    at,
                    subject,
                    action,
                    route,
                    volunteer_ids: ids.0,
                    count,
                    query,
                    request_id,
                    build,
                })
                .collect();
            Ok(q.page.finish(entries, |e: &$crate::AuditEntry| e.id))
        }

        pub async fn purge_audit(
            conn: &mut $conn,
            before: ::chrono::DateTime<::chrono::Utc>,
        ) -> $crate::Result<u64> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new(
                "DELETE FROM audit_volunteers WHERE audit_id IN (SELECT id FROM audit_log WHERE at < ",
            );
            qb.push_bind(before).push(")");
            qb.build().execute(&mut *conn).await.map_err($map_err)?;
            let mut qb = ::sqlx::QueryBuilder::<$db>::new("DELETE FROM audit_log WHERE at < ");
            qb.push_bind(before);
            let done = qb.build().execute(&mut *conn).await.map_err($map_err)?;
            Ok(done.rows_affected())
        }
    };
}
