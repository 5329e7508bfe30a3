//! A blocking PostgreSQL client with a deadline on every call: one
//! `tokio-postgres` connection driven by a tokio *current-thread* runtime
//! owned by this value, on the calling thread, only while a call runs (no
//! OS thread, no runtime visible to the host application). Every call
//! polls the request and the connection together under `timeout`; a call
//! that misses it, or a connection that ends, marks the client closed so
//! the store reconnects at the next call. This is what the `postgres`
//! crate does, plus the client-side deadline it lacks (a server that is
//! alive but stuck would otherwise hang the caller).

use super::pg_err;
use crate::ck::*;
use crate::error::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Connection, Row, Socket, Statement};

type Driver = Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send>>;

/// What the connection's driver counts of the server's asynchronous
/// messages: notifications (LISTEN) sent by other sessions than this one.
#[derive(Default)]
struct Notes {
    /// This session's backend process id (its own NOTIFYs are not counted).
    own_pid: AtomicI32,
    foreign: AtomicU64,
}

/// Drives a connection as its `Future` impl does, but counts the
/// notifications instead of dropping them (and logs notices as it does).
struct Driven<S, T> {
    conn: Connection<S, T>,
    notes: Arc<Notes>,
}

impl<S, T> Future for Driven<S, T>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    type Output = std::result::Result<(), tokio_postgres::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this.conn.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                    if n.process_id() != this.notes.own_pid.load(Ordering::Relaxed) {
                        this.notes.foreign.fetch_add(1, Ordering::Release);
                    }
                }
                Poll::Ready(Some(Ok(AsyncMessage::Notice(n)))) => log::info!("token store (postgres): {}", n.message()),
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

pub(in crate::store) struct PgClient {
    rt: tokio::runtime::Runtime,
    client: Client,
    conn: Driver,
    notes: Arc<Notes>,
    closed: bool,
    timeout: Duration,
}

pub(super) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A write sent ahead of another request ([`PgClient::pipelined`]): the
/// statement, its parameters, and what a NOT NULL violation of it means.
pub(super) type Pending<'p> = (&'p Statement, Params<'p>, OnNull);

/// What a NOT NULL violation of a pending write means: the writes that
/// can fail by design turn their failure into a NULL.
#[derive(Clone, Copy)]
pub(super) enum OnNull {
    /// Nothing but the error.
    Fault,
    /// The object is gone (`CKR_OBJECT_HANDLE_INVALID`).
    Missing(i64),
    /// The revision the lock found is not the one the transaction expects
    /// (`store::stale`).
    Stale,
}

/// What a round trip of a write transaction sends ahead of its writes
/// ([`PgClient::pipelined`]): `open`, the `BEGIN` and the write lock's
/// statement (a query of one row: the revision), in the transaction's
/// first round trip; `reserve`, a query of object ids (`nextval`), sent
/// after the lock.
#[derive(Default)]
pub(super) struct Head<'a> {
    pub open: Option<(&'a str, &'a Statement)>,
    pub reserve: Option<(&'a Statement, Params<'a>)>,
}

/// What a round trip of a write transaction brought back besides its
/// answer: the lock's row, the reserved ids' rows.
#[derive(Default)]
pub(super) struct Opened {
    pub lock: Option<Row>,
    pub reserved: Vec<Row>,
    /// A pending write failed on the objects' primary key: an id was taken
    /// (see `tx::IdPool`).
    pub id_taken: bool,
}

#[cfg(test)]
thread_local! {
    /// Requests (round trips) this thread's clients made ([`PgClient::run`]).
    pub(super) static ROUND_TRIPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn timed_out(t: Duration) -> Error {
    Error::new(CKR_DEVICE_ERROR, format!("token store (postgres): no answer within {} ms", t.as_millis()))
}

impl PgClient {
    /// Connects within `connect_timeout`; later calls get `timeout` each.
    pub(super) fn connect<T>(
        config: &tokio_postgres::Config,
        tls: T,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<PgClient>
    where
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send + 'static,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::device(format!("token store (postgres): no runtime: {e}")))?;
        // tokio-postgres applies connect_timeout per host; this bounds the
        // whole list as well.
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        let overall = connect_timeout.saturating_mul(hosts) + Duration::from_secs(1);
        let (client, connection) = rt
            .block_on(async { tokio::time::timeout(overall, config.connect(tls)).await })
            .map_err(|_| timed_out(overall))?
            .map_err(pg_err)?;
        let notes = Arc::new(Notes::default());
        let conn = Box::pin(Driven { conn: connection, notes: notes.clone() });
        Ok(PgClient { rt, client, conn, notes, closed: false, timeout })
    }

    /// `LISTEN channel` (a plain identifier's worth of text, quoted here)
    /// after learning this session's backend pid, whose own notifications
    /// [`Self::foreign_notes`] leaves out.
    pub(super) fn listen(&mut self, channel: &str) -> Result<()> {
        let rows = self.query_sql("SELECT pg_backend_pid()", &[])?;
        let pid: i32 = rows
            .first()
            .ok_or_else(|| Error::device("pg_backend_pid() returned nothing"))?
            .try_get(0)
            .map_err(pg_err)?;
        self.notes.own_pid.store(pid, Ordering::Relaxed);
        self.batch(&format!("LISTEN \"{channel}\""))
    }

    /// Notifications from other sessions received so far (as far as the
    /// connection has been driven: during requests, and by
    /// [`Self::poll_notes`]).
    pub(super) fn foreign_notes(&self) -> u64 {
        self.notes.foreign.load(Ordering::Acquire)
    }

    /// Reads what the server has already sent, without a request and
    /// without waiting: one poll of the connection, one non-blocking turn
    /// of the runtime's I/O driver (`yield_now` defers its wake-up until
    /// the driver has been polled with a zero timeout), one more poll.
    /// Returns [`Self::foreign_notes`].
    pub(super) fn poll_notes(&mut self) -> Result<u64> {
        if self.is_closed() {
            return Err(Error::device("token store (postgres): connection closed"));
        }
        let PgClient { rt, conn, closed, .. } = self;
        let ended = rt.block_on(async move {
            tokio::select! {
                biased;
                r = conn.as_mut() => Some(r),
                _ = tokio::task::yield_now() => None,
            }
        });
        if ended.is_some() {
            *closed = true;
            return Err(Error::device("token store (postgres): the server closed the connection"));
        }
        Ok(self.foreign_notes())
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed || self.client.is_closed()
    }

    /// Runs one request of `f` while driving the connection, within the
    /// deadline.
    fn run<'a, F, R>(&'a mut self, f: impl FnOnce(&'a Client) -> F) -> Result<R>
    where
        F: Future<Output = std::result::Result<R, tokio_postgres::Error>> + 'a,
    {
        if self.is_closed() {
            return Err(Error::device("token store (postgres): connection closed"));
        }
        #[cfg(test)]
        ROUND_TRIPS.with(|n| n.set(n.get() + 1));
        let PgClient { rt, client, conn, closed, timeout, .. } = self;
        let t = *timeout;
        let request = f(client);
        let out = rt.block_on(async move {
            tokio::pin!(request);
            tokio::select! {
                biased;
                r = tokio::time::timeout(t, &mut request) => Some(r),
                _ = conn.as_mut() => None,
            }
        });
        match out {
            Some(Ok(r)) => {
                if r.is_err() && client.is_closed() {
                    *closed = true;
                }
                r.map_err(pg_err)
            }
            Some(Err(_)) => {
                *closed = true;
                Err(timed_out(t))
            }
            None => {
                *closed = true;
                Err(Error::device("token store (postgres): the server closed the connection"))
            }
        }
    }

    pub(super) fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.run(|c| c.prepare(sql))
    }

    pub(super) fn query(&mut self, st: &Statement, p: Params<'_>) -> Result<Vec<Row>> {
        self.run(|c| c.query(st, p))
    }

    pub(super) fn query_opt(&mut self, st: &Statement, p: Params<'_>) -> Result<Option<Row>> {
        self.run(|c| c.query_opt(st, p))
    }

    /// Statements without parameters (`BEGIN`, `COMMIT`, `SET ...`).
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        self.run(|c| c.batch_execute(sql))
    }

    /// One round trip of a write transaction, in this order: the head
    /// (`BEGIN` and the write lock's statement, the first time; the
    /// reservation of object ids, when `head.reserve` is set), the
    /// prepared writes `first` (each an `execute` that must touch one row:
    /// the revision bump, a deferred insert or delete) and the request
    /// `then` makes. The client pipelines requests whose futures are polled
    /// together, in the order they are first polled; the server runs them
    /// in that order. Errors come in that order too (a failed statement
    /// aborts the transaction: a `COMMIT` sent behind it rolls back). A
    /// write given an object id signals that object's absence by a NOT
    /// NULL violation ([`OnNull`]). What the head read
    /// goes to `opened` even when a later statement fails (reserved ids
    /// stay reserved: `nextval` is not transactional).
    pub(super) fn pipelined<'a, F, R>(
        &'a mut self,
        head: Head<'a>,
        opened: &mut Opened,
        first: &'a [Pending<'a>],
        then: impl FnOnce(&'a Client) -> F,
    ) -> Result<R>
    where
        F: Future<Output = std::result::Result<R, tokio_postgres::Error>> + 'a,
    {
        let (open, reserve, ns, r) = self.run(move |c| {
            let second = then(c);
            async move {
                // Each request goes out at its future's first poll, in the
                // order polled: the head, `first` in order, then `second`.
                let open = async move {
                    match head.open {
                        Some((begin, lock)) => {
                            let (b, l) = tokio::join!(c.batch_execute(begin), c.query_opt(lock, &[]));
                            Some((b, l))
                        }
                        None => None,
                    }
                };
                let reserve = async move {
                    match head.reserve {
                        Some((st, p)) => Some(c.query(st, p).await),
                        None => None,
                    }
                };
                let all = futures_util::future::join_all(first.iter().map(|p| c.execute(p.0, p.1)));
                Ok(tokio::join!(open, reserve, all, second))
            }
        })?;
        // (A lost connection shows in `is_closed`: the client's own flag.)
        if let Some((b, l)) = open {
            b.map_err(pg_err)?;
            opened.lock = Some(l.map_err(pg_err)?.ok_or_else(|| super::corrupt("revision counter missing"))?);
        }
        if let Some(rows) = reserve {
            opened.reserved = rows.map_err(pg_err)?;
        }
        for (r, p) in ns.into_iter().zip(first) {
            match r {
                Ok(1) => {}
                Ok(_) => {
                    return Err(super::corrupt(
                        "a pipelined write touched no row (the revision counter or a new object is missing)",
                    ));
                }
                Err(e) => {
                    if e.code() == Some(&SqlState::NOT_NULL_VIOLATION) {
                        match p.2 {
                            OnNull::Missing(id) => return Err(super::super::handle_invalid(id)),
                            OnNull::Stale => return Err(super::super::stale()),
                            OnNull::Fault => {}
                        }
                    }
                    opened.id_taken = e.as_db_error().and_then(|d| d.constraint()) == Some("objects_pkey");
                    return Err(pg_err(e));
                }
            }
        }
        r.map_err(pg_err)
    }

    /// One unprepared query with parameters.
    pub(super) fn query_sql(&mut self, sql: &str, p: Params<'_>) -> Result<Vec<Row>> {
        self.run(|c| c.query(sql, p))
    }
}
