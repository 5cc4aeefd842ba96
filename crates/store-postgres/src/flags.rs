//! Feature flags and their audit trail in PostgreSQL.
//!
//! Flag writes are rare administrator actions, so each one takes a table lock that
//! serialises flag writers (readers are not blocked): create-or-replace then needs no
//! retry loop for two administrators creating the same key at once, and the version
//! check and the audit record see exactly the row they change.

use crate::common::check_version;
use crate::errors::map_err;
use muster_domain::flag::{Flag, FlagKey, FlagPatch, FlagSpec};
use muster_domain::now_micros;
use muster_store::flag_rows::{FLAG_CHANGE_COLUMNS, FLAG_COLUMNS, FlagChangeRow, FlagRow, change, flags};
use muster_store::{Expected, FlagAction, FlagChange, FlagChangeQuery, Listed, Result, StoreError};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgExecutor};

const ENTITY: &str = "flag";

pub async fn list(conn: &mut PgConnection) -> Result<Vec<Flag>> {
    let rows: Vec<FlagRow> = sqlx::query_as(&format!("SELECT {FLAG_COLUMNS} FROM flags ORDER BY key"))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    flags(rows)
}

async fn fetch(ex: impl PgExecutor<'_>, key: &str) -> Result<Option<Flag>> {
    let row: Option<FlagRow> = sqlx::query_as(&format!("SELECT {FLAG_COLUMNS} FROM flags WHERE key = $1"))
        .bind(key)
        .fetch_optional(ex)
        .await
        .map_err(map_err)?;
    row.map(Flag::try_from).transpose()
}

pub async fn get(conn: &mut PgConnection, key: &str) -> Result<Flag> {
    fetch(conn, key).await?.ok_or(StoreError::NotFound { entity: ENTITY })
}

async fn lock(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("LOCK TABLE flags IN SHARE ROW EXCLUSIVE MODE").execute(conn).await.map_err(map_err)?;
    Ok(())
}

async fn write(ex: impl PgExecutor<'_>, f: &Flag) -> Result<()> {
    let s = &f.spec;
    sqlx::query(&format!(
        "INSERT INTO flags ({FLAG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (key) DO UPDATE SET description = $2, enabled = $3, rollout_hundredths = $4, allow_list = $5, \
         deny_list = $6, variants = $7, off_variant = $8, version = $9, updated_at = $11, updated_by = $12"
    ))
    .bind(f.key.as_str())
    .bind(&s.description)
    .bind(s.enabled)
    .bind(i32::from(s.rollout_percent.hundredths()))
    .bind(Json(&s.allow))
    .bind(Json(&s.deny))
    .bind(Json(&s.variants))
    .bind(&s.off_variant)
    .bind(f.version)
    .bind(f.created_at)
    .bind(f.updated_at)
    .bind(&f.updated_by)
    .execute(ex)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn record(ex: impl PgExecutor<'_>, c: &FlagChange) -> Result<()> {
    sqlx::query(&format!("INSERT INTO flag_changes ({FLAG_CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(c.id)
        .bind(&c.key)
        .bind(c.action.as_str())
        .bind(&c.actor)
        .bind(c.at)
        .bind(c.before.as_ref().map(Json))
        .bind(c.after.as_ref().map(Json))
        .execute(ex)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn put(
    conn: &mut PgConnection,
    key: &FlagKey,
    spec: FlagSpec,
    expected: Expected,
    actor: &str,
) -> Result<(Flag, bool)> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    lock(&mut tx).await?;
    let (flag, entry) = match fetch(&mut *tx, key.as_str()).await? {
        None => {
            if let Some(v) = expected {
                return Err(StoreError::PreconditionFailed { entity: ENTITY, expected: v });
            }
            let f = Flag::create(key.clone(), spec, actor, now_micros());
            let c = change(key.as_str(), FlagAction::Created, actor, None, Some(&f));
            (f, c)
        }
        Some(before) => {
            check_version(ENTITY, before.version, expected)?;
            let mut f = before.clone();
            f.replace(spec, actor, now_micros());
            let c = change(key.as_str(), FlagAction::Replaced, actor, Some(&before), Some(&f));
            (f, c)
        }
    };
    write(&mut *tx, &flag).await?;
    record(&mut *tx, &entry).await?;
    tx.commit().await.map_err(map_err)?;
    Ok((flag, entry.action == FlagAction::Created))
}

pub async fn update(
    conn: &mut PgConnection,
    key: &str,
    patch: FlagPatch,
    expected: Expected,
    actor: &str,
) -> Result<Flag> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    lock(&mut tx).await?;
    let before = fetch(&mut *tx, key).await?.ok_or(StoreError::NotFound { entity: ENTITY })?;
    check_version(ENTITY, before.version, expected)?;
    let spec = patch.apply_to(before.spec.clone())?;
    let mut f = before.clone();
    f.replace(spec, actor, now_micros());
    write(&mut *tx, &f).await?;
    record(&mut *tx, &change(key, FlagAction::Updated, actor, Some(&before), Some(&f))).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(f)
}

pub async fn delete(conn: &mut PgConnection, key: &str, expected: Expected, actor: &str) -> Result<()> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    lock(&mut tx).await?;
    let before = fetch(&mut *tx, key).await?.ok_or(StoreError::NotFound { entity: ENTITY })?;
    check_version(ENTITY, before.version, expected)?;
    sqlx::query("DELETE FROM flags WHERE key = $1").bind(key).execute(&mut *tx).await.map_err(map_err)?;
    record(&mut *tx, &change(key, FlagAction::Deleted, actor, Some(&before), None)).await?;
    tx.commit().await.map_err(map_err)
}

pub async fn changes(conn: &mut PgConnection, q: &FlagChangeQuery) -> Result<Listed<FlagChange>> {
    let rows: Vec<FlagChangeRow> = sqlx::query_as(&format!(
        "SELECT {FLAG_CHANGE_COLUMNS} FROM flag_changes WHERE ($1::text IS NULL OR flag_key = $1) \
         AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC{}",
        q.page.limit_sql()
    ))
    .bind(&q.key)
    .bind(q.page.after)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let rows = rows.into_iter().map(FlagChange::try_from).collect::<Result<Vec<_>>>()?;
    Ok(q.page.finish(rows, |c| c.id))
}
