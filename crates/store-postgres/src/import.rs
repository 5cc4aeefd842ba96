//! Bulk insert of fully formed rows: multi-row `INSERT … VALUES` statements in chunks, in
//! one transaction, instead of a round trip per row.

use crate::errors::map_err;
use muster_store::{Import, Result};
use sqlx::{Connection, PgConnection};

/// Rows per statement; PostgreSQL allows 65,535 bind parameters, events use 16 a row.
const CHUNK: usize = 2000;

pub async fn import(conn: &mut PgConnection, rows: &Import) -> Result<()> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    insert_candidates(&mut tx, &rows.candidates).await?;
    insert_volunteers(&mut tx, &rows.volunteers).await?;
    insert_events(&mut tx, &rows.events).await?;
    insert_attendances(&mut tx, &rows.attendances).await?;
    tx.commit().await.map_err(map_err)
}

muster_store::bulk_inserts!(sqlx::Postgres, sqlx::PgConnection, CHUNK, crate::errors::map_err);
