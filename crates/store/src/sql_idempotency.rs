//! The idempotency statements that are the same for both SQL backends (through
//! `QueryBuilder`, so each dialect writes its own placeholders): recording the response,
//! releasing a claim and marking what a request wrote. Claiming differs (PostgreSQL reads
//! and takes over outside a transaction, SQLite inside its writer's) and stays in each
//! backend. A macro for the reason `sql_import` gives.

/// Defines `complete`, `abort` and `mark` for a backend: `$db` (sqlx database), `$conn` (its
/// connection type, which a write's transaction derefs to) and `$map_err` (its error mapping).
#[macro_export]
macro_rules! idempotency_statements {
    ($db:ty, $conn:ty, $map_err:path) => {
        /// Records the response of the request that claimed `key`.
        pub async fn complete<'c, E: ::sqlx::Executor<'c, Database = $db>>(
            ex: E,
            key: &$crate::IdempotencyKey,
            response: &$crate::StoredResponse,
        ) -> $crate::Result<()> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new("UPDATE idempotency_keys SET response = ");
            qb.push_bind(::sqlx::types::Json(response));
            qb.push(" WHERE principal = ").push_bind(key.principal.as_str());
            qb.push(" AND key = ").push_bind(key.key.as_str());
            qb.build().execute(ex).await.map_err($map_err)?;
            Ok(())
        }

        /// Releases `claim` while it is still this attempt's and wrote nothing; whether it did.
        pub async fn abort<'c, E: ::sqlx::Executor<'c, Database = $db>>(
            ex: E,
            claim: &$crate::Claim,
        ) -> $crate::Result<bool> {
            let mut qb = ::sqlx::QueryBuilder::<$db>::new("DELETE FROM idempotency_keys WHERE principal = ");
            qb.push_bind(claim.key.principal.as_str());
            qb.push(" AND key = ").push_bind(claim.key.key.as_str());
            qb.push(" AND claim = ").push_bind(claim.token);
            qb.push(" AND response IS NULL AND resource IS NULL");
            let released = qb.build().execute(ex).await.map_err($map_err)?;
            Ok(released.rows_affected() == 1)
        }

        /// Records, inside the caller's write transaction, what the current request (if it
        /// carries an Idempotency-Key) wrote: the write and the record commit or vanish
        /// together. A request whose claim was taken over meanwhile fails here, and its
        /// write with it.
        pub async fn mark(conn: &mut $conn, resource: &str) -> $crate::Result<()> {
            let Some(claim) = $crate::idempotency::current() else { return Ok(()) };
            let mut qb = ::sqlx::QueryBuilder::<$db>::new("UPDATE idempotency_keys SET resource = ");
            qb.push_bind(resource);
            qb.push(" WHERE principal = ").push_bind(claim.key.principal.as_str());
            qb.push(" AND key = ").push_bind(claim.key.key.as_str());
            qb.push(" AND claim = ").push_bind(claim.token);
            let marked = qb.build().execute(&mut *conn).await.map_err($map_err)?;
            if marked.rows_affected() == 0 {
                return Err($crate::StoreError::Conflict($crate::idempotency::TAKEN_OVER.into()));
            }
            Ok(())
        }
    };
}
