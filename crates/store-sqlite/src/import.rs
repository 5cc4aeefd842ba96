//! Bulk insert of fully formed rows: multi-row `INSERT … VALUES` statements in chunks, in
//! one write transaction on the writer connection.

use crate::errors::map_err;
use muster_store::{Import, Result};
use sqlx::SqliteConnection;

/// Rows per statement; SQLite allows 32,766 bind parameters, events use 16 a row.
const CHUNK: usize = 1000;

pub async fn import(conn: &mut SqliteConnection, rows: &Import) -> Result<()> {
    let mut tx = crate::common::begin(conn).await?;
    insert_candidates(&mut tx, &rows.candidates).await?;
    insert_volunteers(&mut tx, &rows.volunteers).await?;
    insert_events(&mut tx, &rows.events).await?;
    insert_attendances(&mut tx, &rows.attendances).await?;
    tx.commit().await.map_err(map_err)
}

muster_store::bulk_inserts!(sqlx::Sqlite, sqlx::SqliteConnection, CHUNK, crate::errors::map_err);
