//! The connection pool.
//!
//! sqlx's own pool pings every connection it takes back (`PoolConnection::drop` spawns a task
//! that sends a `Sync` and waits for PostgreSQL's answer) and has no setting to skip it. A
//! GET by id is one round trip to PostgreSQL, so that ping doubled the round trips of every
//! pooled query and added a task per query. This pool keeps plain `PgConnection`s instead and
//! checks them only when there is a reason to doubt one:
//!
//! - a connection whose last operation failed with a connection-level error
//!   ([`StoreError::Unavailable`]) is closed, not reused;
//! - a connection whose operation was cancelled mid-way (the request timed out or the client
//!   went away) is pinged before its next use. sqlx already drains a half-read answer and
//!   sends a queued `ROLLBACK` before the next statement; the ping makes sure the socket is
//!   sound as well;
//! - a connection that sat idle for [`CHECK_AFTER_IDLE`] is pinged before use, so one that
//!   PostgreSQL dropped meanwhile (a restart, a failover) is replaced instead of failing a
//!   request;
//! - connections live at most [`MAX_LIFETIME`] and idle ones are closed after
//!   [`IDLE_TIMEOUT`].
//!
//! A semaphore bounds the connections in use; the idle ones are a stack, so the busiest
//! connections stay warm and the rest age out.

use crate::errors::map_err;
use muster_store::{BatchError, PoolStats, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections are replaced after this long, so server-side memory and settings don't
/// accumulate for ever.
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Idle connections beyond what the load needs are closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// An idle connection older than this is pinged before it is handed out.
pub const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);

/// A pool of PostgreSQL connections, cheap to clone.
#[derive(Clone)]
pub struct Pool(Arc<Shared>);

struct Shared {
    options: PgConnectOptions,
    max: u32,
    acquire_timeout: Duration,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    open: AtomicU32,
}

struct Idle {
    conn: PgConnection,
    born: Instant,
    since: Instant,
    suspect: bool,
}

impl Pool {
    /// A pool of at most `max` connections; none is opened until one is needed.
    pub fn new(options: PgConnectOptions, max: u32, acquire_timeout: Duration) -> Self {
        let max = max.max(1);
        Pool(Arc::new(Shared {
            options,
            max,
            acquire_timeout,
            permits: Arc::new(Semaphore::new(max as usize)),
            idle: Mutex::new(Vec::with_capacity(max as usize)),
            open: AtomicU32::new(0),
        }))
    }

    /// A connection for one operation: an idle one if there is one, else a new one. Waits at
    /// most the acquire timeout in all (for a free slot, a ping and a connect together).
    pub async fn acquire(&self) -> Result<Conn, StoreError> {
        let shared = &self.0;
        let deadline = tokio::time::Instant::now() + shared.acquire_timeout;
        let permit = match tokio::time::timeout_at(deadline, shared.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(StoreError::Unavailable("the PostgreSQL pool is closed".into())),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no PostgreSQL connection free within {:?} (all {} in use)",
                    shared.acquire_timeout, shared.max
                )));
            }
        };
        loop {
            let Some(idle) = shared.take_idle() else { break };
            if idle.born.elapsed() >= MAX_LIFETIME {
                shared.retire(idle.conn);
                continue;
            }
            let (born, needs_check) = (idle.born, idle.suspect || idle.since.elapsed() >= CHECK_AFTER_IDLE);
            // if this call is cancelled during the check, the guard still closes the connection
            let mut checking = Checking { shared, conn: Some(idle.conn) };
            if needs_check && let Some(conn) = checking.conn.as_mut() {
                match tokio::time::timeout_at(deadline, conn.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "dropping a PostgreSQL connection that failed its check");
                        continue;
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable("PostgreSQL did not answer a ping in time".into()));
                    }
                }
            }
            let Some(conn) = checking.conn.take() else { continue };
            return Ok(Conn::new(conn, born, permit, shared.clone()));
        }
        let conn = match tokio::time::timeout_at(deadline, shared.options.connect()).await {
            Ok(conn) => conn.map_err(map_err)?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "could not connect to PostgreSQL within {:?}",
                    shared.acquire_timeout
                )));
            }
        };
        shared.open.fetch_add(1, Ordering::Relaxed);
        Ok(Conn::new(conn, Instant::now(), permit, shared.clone()))
    }

    /// Open and idle connections, for the metrics.
    pub fn stats(&self) -> PoolStats {
        let shared = &self.0;
        let open = shared.open.load(Ordering::Relaxed);
        let idle = u32::try_from(shared.idle().len()).unwrap_or(u32::MAX).min(open);
        PoolStats { pool: "primary", open, idle, max: shared.max }
    }
}

impl Shared {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // a panic while the lock was held leaves a valid Vec; keep using it
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_idle(&self) -> Option<Idle> {
        self.idle().pop()
    }

    /// Takes a connection back. Closes the longest-idle one if it has waited past the idle
    /// timeout, so a burst's extra connections are closed once the burst is over.
    fn put_back(&self, conn: PgConnection, born: Instant, suspect: bool) {
        let stale = {
            let mut idle = self.idle();
            idle.push(Idle { conn, born, since: Instant::now(), suspect });
            if idle.len() > 1 && idle[0].since.elapsed() >= IDLE_TIMEOUT { Some(idle.remove(0).conn) } else { None }
        };
        if let Some(conn) = stale {
            self.retire(conn);
        }
    }

    /// Closes a sound connection politely (PostgreSQL logs no "unexpected EOF").
    fn retire(&self, conn: PgConnection) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(async move { drop(conn.close().await) })),
            Err(_) => drop(conn),
        }
    }

    /// Drops a connection that can't be trusted, without talking to it.
    fn discard(&self, conn: PgConnection) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        drop(conn);
    }
}

/// An idle connection being checked: dropped before it passes (a failed ping, a cancelled
/// acquire), it is closed and no longer counted as open.
struct Checking<'a> {
    shared: &'a Shared,
    conn: Option<PgConnection>,
}

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.discard(conn);
        }
    }
}

/// One connection taken from the [`Pool`]; it goes back when dropped. Report how the
/// operation ended with [`Conn::settle`], so a broken connection is not handed out again.
pub struct Conn {
    conn: Option<PgConnection>,
    born: Instant,
    outcome: Outcome,
    shared: Arc<Shared>,
    // declared last: the slot is freed after the connection is back in the idle stack
    _permit: OwnedSemaphorePermit,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Taken and not settled: if dropped like this, the operation was cancelled mid-way.
    Running,
    Done,
    Broken,
}

impl Conn {
    fn new(conn: PgConnection, born: Instant, permit: OwnedSemaphorePermit, shared: Arc<Shared>) -> Self {
        Conn { conn: Some(conn), born, outcome: Outcome::Running, shared, _permit: permit }
    }

    /// Records how the operation on this connection ended and passes its result on. A
    /// connection-level failure ([`StoreError::Unavailable`]) closes the connection.
    pub fn settle<R: Settled>(mut self, result: R) -> R {
        self.outcome = if result.connection_lost() { Outcome::Broken } else { Outcome::Done };
        result
    }
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a pooled connection is present until it is dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a pooled connection is present until it is dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        match self.outcome {
            Outcome::Broken => self.shared.discard(conn),
            _ if self.born.elapsed() >= MAX_LIFETIME => self.shared.retire(conn),
            outcome => self.shared.put_back(conn, self.born, outcome == Outcome::Running),
        }
    }
}

/// A store result that says whether the connection it came from is lost.
pub trait Settled {
    fn connection_lost(&self) -> bool;
    /// The result of an operation PostgreSQL did not answer in time (it counts as lost).
    fn unavailable(message: String) -> Self;
}

impl<T> Settled for Result<T, StoreError> {
    fn connection_lost(&self) -> bool {
        matches!(self, Err(StoreError::Unavailable(_)))
    }
    fn unavailable(message: String) -> Self {
        Err(StoreError::Unavailable(message))
    }
}

impl<T> Settled for Result<T, BatchError> {
    fn unavailable(message: String) -> Self {
        Err(BatchError::Store(StoreError::Unavailable(message)))
    }
    fn connection_lost(&self) -> bool {
        matches!(
            self,
            Err(BatchError::Store(StoreError::Unavailable(_))
                | BatchError::Aborted { error: StoreError::Unavailable(_), .. })
        )
    }
}
