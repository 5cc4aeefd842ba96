//! Candidates in PostgreSQL.

use crate::common::{self, check_version};
use crate::errors::map_err;
use muster_domain::candidate::{Candidate, CandidatePatch, NewCandidate};
use muster_domain::now_micros;
use muster_store::rows::{CANDIDATE_COLUMNS, CandidateRow, convert};
use muster_store::{CandidateFilter, Expected, Listed, Page, Result};
use sqlx::{Connection, PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

const ENTITY: &str = "candidate";

pub async fn create(conn: &mut PgConnection, new: NewCandidate) -> Result<Candidate> {
    let c = Candidate::create(new, Uuid::now_v7(), now_micros());
    if muster_store::idempotency::current().is_none() {
        write(&mut *conn, &c, true).await?;
        return Ok(c);
    }
    // with an Idempotency-Key, the row and the key's record of it commit together
    let mut tx = conn.begin().await.map_err(map_err)?;
    write(&mut *tx, &c, true).await?;
    crate::idempotency::mark(&mut tx, &format!("/v1/candidates/{}", c.id)).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(c)
}

async fn write(ex: impl PgExecutor<'_>, c: &Candidate, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO candidates (id, name, office, district, party, election_date, status, website, version, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE candidates SET name = $2, office = $3, district = $4, party = $5, election_date = $6, status = $7, \
         website = $8, version = $9, created_at = $10, updated_at = $11 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(c.id)
        .bind(c.name.as_str())
        .bind(c.office.as_str())
        .bind(c.district.as_ref().map(|t| t.as_str()))
        .bind(c.party.as_ref().map(|t| t.as_str()))
        .bind(c.election_date)
        .bind(c.status.as_str())
        .bind(c.website.as_deref())
        .bind(c.version)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(ex)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Candidate> {
    common::fetch::<CandidateRow>(conn, "candidates", CANDIDATE_COLUMNS, ENTITY, id, false).await?.try_into()
}

/// The statement [`list`] runs; the plan test (`tests/plans.rs`) explains this very statement.
pub(crate) fn list_query(f: &CandidateFilter, page: Page) -> QueryBuilder<'_, Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE true"));
    if let Some(s) = f.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(o) = &f.office {
        qb.push(" AND office = ").push_bind(o);
    }
    if let Some(p) = &f.party {
        qb.push(" AND party = ").push_bind(p);
    }
    if let Some(d) = &f.district {
        qb.push(" AND district = ").push_bind(d);
    }
    if let Some(t) = f.updated_since {
        qb.push(" AND updated_at >= ").push_bind(t);
    }
    if let Some(ids) = &f.ids {
        crate::common::push_in(&mut qb, "id", ids);
    }
    crate::common::push_owned_by(&mut qb, "candidates", f.candidates.as_deref());
    if let Some(after) = page.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id").push(page.limit_sql());
    qb
}

pub async fn list(conn: &mut PgConnection, f: &CandidateFilter, page: Page) -> Result<Listed<Candidate>> {
    let mut qb = list_query(f, page);
    let rows: Vec<CandidateRow> = common::fetch_rows(qb.build(), &mut *conn).await?;
    Ok(page.finish(convert(rows)?, |c: &Candidate| c.id))
}

pub async fn update(conn: &mut PgConnection, id: Uuid, patch: CandidatePatch, expected: Expected) -> Result<Candidate> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let mut c: Candidate =
        common::fetch::<CandidateRow>(&mut *tx, "candidates", CANDIDATE_COLUMNS, ENTITY, id, true).await?.try_into()?;
    check_version(ENTITY, c.version, expected)?;
    c.apply(patch, now_micros());
    write(&mut *tx, &c, false).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(c)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid, expected: Expected) -> Result<()> {
    let referenced = "this candidate still has volunteers or events; delete or move them first";
    common::delete(conn, "candidates", ENTITY, id, expected, referenced).await
}
