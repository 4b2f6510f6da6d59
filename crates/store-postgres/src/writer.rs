//! Group commit on PostgreSQL. One writer task per store takes the
//! appends queued while its last transaction ran and commits them in one
//! transaction that holds a store-wide advisory lock from its first
//! statement to its commit. Under the lock it reads the head, checks every
//! request (ids, then expectations) against what is stored and what the
//! batch wrote before it, assigns the next positions, links the hash
//! chain, and inserts all rows with one statement.
//!
//! Why positions are gapless and in commit order, across servers: a
//! position is taken only under the lock, the lock is released only when
//! the transaction has committed (or rolled back, taking nothing), and the
//! next holder reads the head after taking it. So transactions commit in
//! position order, one at a time, and any snapshot sees a prefix of the
//! log: a reader that caps its reads at a head it has seen committed can
//! never skip an event that commits later with a lower position.
//!
//! A batch takes two round trips (BEGIN, the lock and the reads; then the
//! writes and COMMIT), or one when this writer committed last and knows
//! every stream the batch writes: it sends everything at once behind a
//! guard that aborts the transaction unless the last position is still its
//! own last commit's. Under the lock that guard is exact: if no other
//! server committed, what the writer remembers is what the reads would
//! have found.

use std::collections::HashMap;
use std::sync::Arc;

use hindsight_store::{check_expectations, check_retry, AppendResult, RecordedEvent, StoreError, ValidatedPart};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use crate::chain::{self, GENESIS};
use crate::error::pg;
use crate::row::{self, COLUMNS};
use crate::shared::Shared;

/// The advisory lock every append transaction holds ("hs" "appd"), from
/// its first statement to its commit.
pub const APPEND_LOCK: i64 = 0x6873_6170_7064;

/// The channel other servers' readers are woken on.
pub const HEAD_CHANNEL: &str = "hindsight_head";

/// Requests committed together at most, and events.
const BATCH_REQUESTS_MAX: usize = 1_024;
const BATCH_EVENTS_MAX: usize = 20_000;

pub struct Request {
    pub parts: Vec<ValidatedPart>,
    pub reply: oneshot::Sender<Result<Vec<AppendResult>, StoreError>>,
}

fn events_in(r: &Request) -> usize {
    r.parts.iter().map(|p| p.events.len()).sum()
}

/// Takes batches off the queue until it closes; reconnects when the
/// connection is lost (that batch fails: its clients retry, and the ids
/// they sent make a retry of a batch that did commit harmless).
pub async fn run(mut rx: mpsc::Receiver<Request>, shared: Arc<Shared>) {
    let mut conn: Option<Conn> = None;
    let mut tail: Option<Tail> = None;
    while let Some(first) = rx.recv().await {
        let mut events = events_in(&first);
        let mut batch = vec![first];
        while batch.len() < BATCH_REQUESTS_MAX && events < BATCH_EVENTS_MAX {
            match rx.try_recv() {
                Ok(r) => {
                    events += events_in(&r);
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            conn = match Conn::open(&shared).await {
                Ok(c) => Some(c),
                Err(e) => {
                    shared.reached(Err(&e));
                    fail(batch, &e);
                    continue;
                }
            };
        }
        let Some(c) = conn.as_ref() else { continue };
        let head = *shared.head.borrow();
        let fast = match tail.as_ref().filter(|t| t.covers(&batch, head)) {
            Some(t) => commit_known(c, &batch, t).await,
            None => Ok(None),
        };
        let outcome = match fast {
            Ok(Some(done)) => Ok(done),
            Ok(None) => commit(c, &batch).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(done) => {
                tail = Some(Tail::after(tail.take(), &done));
                shared.reached(Ok(()));
                shared.advance(done.head, done.timestamp_us, done.events);
                for (request, result) in batch.into_iter().zip(done.results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => {
                // Leave no transaction open (a no-op when COMMIT ended it).
                let _ = c.client.batch_execute("ROLLBACK").await;
                tail = None;
                tracing::warn!(error = %e, "an append batch failed; nothing of it was committed, or its clients' retries find it");
                shared.reached(Err(&e));
                fail(batch, &e);
            }
        }
    }
}

/// The writer's connection and its statements, prepared once.
struct Conn {
    client: Client,
    begin: Statement,
    lock: Statement,
    last: Statement,
    ids: Statement,
    streams: Statement,
    insert: Statement,
    upsert: Statement,
    notify: Statement,
    commit: Statement,
    guard: Statement,
}

const INSERT: &str =
    "INSERT INTO hs_events (position, stream, version, id, type, category, timestamp_us, data, metadata, tags, hash)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
                          $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bytea[])";

const UPSERT: &str = "INSERT INTO hs_streams (stream, last_version) SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version";

/// Fails (division by zero) unless the last position is $1 (-1: none),
/// aborting the transaction it runs in: the writer's guess that no other
/// server committed since its own last commit was wrong.
const GUARD: &str =
    "SELECT 1 / (coalesce((SELECT position FROM hs_events ORDER BY position DESC LIMIT 1), -1) = $1)::int";

impl Conn {
    async fn open(shared: &Shared) -> Result<Conn, StoreError> {
        let client = shared.connect().await?;
        let ids = format!("SELECT {COLUMNS} FROM hs_events WHERE id = ANY($1)");
        let (begin, lock, last, ids, streams, insert, upsert, notify, commit, guard) = futures::try_join!(
            client.prepare("BEGIN"),
            client.prepare("SELECT pg_advisory_xact_lock($1)"),
            client.prepare("SELECT position, hash, timestamp_us FROM hs_events ORDER BY position DESC LIMIT 1"),
            client.prepare(&ids),
            client.prepare("SELECT stream, last_version FROM hs_streams WHERE stream = ANY($1)"),
            client.prepare(INSERT),
            client.prepare(UPSERT),
            client.prepare("SELECT pg_notify($1, $2)"),
            client.prepare("COMMIT"),
            client.prepare(GUARD),
        )
        .map_err(pg)?;
        Ok(Conn { client, begin, lock, last, ids, streams, insert, upsert, notify, commit, guard })
    }
}

/// Every request of a batch gets the batch's error (as its kind: an
/// unreachable database stays `Unavailable`, which clients retry).
fn fail(batch: Vec<Request>, e: &StoreError) {
    for request in batch {
        let copy = match e {
            StoreError::Unavailable { reason } => StoreError::Unavailable { reason: reason.clone() },
            other => StoreError::Backend(other.to_string()),
        };
        let _ = request.reply.send(Err(copy));
    }
}

struct Committed {
    results: Vec<Result<Vec<AppendResult>, StoreError>>,
    head: u64,
    timestamp_us: u64,
    events: u64,
    /// The chain's last link and the streams' versions after the batch.
    previous: [u8; 32],
    versions: HashMap<String, u64>,
    /// The head the batch found under the lock, before its own events.
    found: u64,
}

/// What the writer knows of the log's end after its own last commit. While
/// no other server commits in between, the next batch needs no reads under
/// the lock and goes in one round trip, guarded (`commit_known`).
struct Tail {
    next: u64,
    previous: [u8; 32],
    timestamp_us: u64,
    /// Last versions of the streams this writer read or wrote lately.
    versions: HashMap<String, u64>,
}

/// Streams a tail remembers at most (then it starts again).
const TAIL_STREAMS_MAX: usize = 65_536;

impl Tail {
    /// The tail after `done`. What it knew of other streams holds only if
    /// no other server committed between its last batch and this one.
    fn after(tail: Option<Tail>, done: &Committed) -> Tail {
        let mut versions = tail.filter(|t| t.next == done.found).map(|t| t.versions).unwrap_or_default();
        if versions.len() + done.versions.len() > TAIL_STREAMS_MAX {
            versions.clear();
        }
        versions.extend(done.versions.iter().map(|(s, v)| (s.clone(), *v)));
        Tail { next: done.head, previous: done.previous, timestamp_us: done.timestamp_us, versions }
    }

    /// Whether `batch` can skip the reads: the tail is the head as this
    /// server knows it, no request names ids (a retry must be looked up),
    /// and every stream's version is known.
    fn covers(&self, batch: &[Request], head: u64) -> bool {
        self.next == head
            && batch
                .iter()
                .flat_map(|r| &r.parts)
                .all(|p| self.versions.contains_key(&p.stream) && p.events.iter().all(|e| e.id.is_none()))
    }
}

/// A batch the tail covers, in one round trip: BEGIN, the lock, the guard
/// that the last position is still the tail's, the rows, the versions, the
/// NOTIFY and COMMIT. None when it must go the long way: nothing to write
/// (refusals are decided under the lock), or the guard failed (another
/// server committed; the transaction rolled back, nothing was written).
async fn commit_known(c: &Conn, batch: &[Request], tail: &Tail) -> Result<Option<Committed>, StoreError> {
    let versions = batch
        .iter()
        .flat_map(|r| &r.parts)
        .filter_map(|p| tail.versions.get(&p.stream).map(|v| (p.stream.clone(), *v)))
        .collect();
    let mut tally = Tally {
        next: tail.next,
        previous: tail.previous,
        timestamp_us: crate::now_us().max(tail.timestamp_us),
        known: HashMap::new(),
        versions,
        touched: Default::default(),
        rows: Vec::new(),
    };
    let results: Vec<_> = batch.iter().map(|r| tally.assign(&r.parts)).collect();
    if tally.rows.is_empty() {
        return Ok(None);
    }
    let last = tail.next as i64 - 1;
    match insert(c, &tally, Some(last)).await {
        Ok(()) => Ok(Some(tally.committed(results))),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO) => Ok(None),
        Err(e) => Err(pg(e)),
    }
}

/// What the batch has decided so far: the head, the chain's last link,
/// the events stored or written by the batch that its requests' ids may
/// name, and the streams' last versions.
struct Tally {
    next: u64,
    previous: [u8; 32],
    timestamp_us: u64,
    known: HashMap<Uuid, RecordedEvent>,
    versions: HashMap<String, u64>,
    /// Streams the batch wrote to (their last versions are upserted).
    touched: std::collections::HashSet<String>,
    rows: Vec<(RecordedEvent, [u8; 32])>,
}

/// One batch in two round trips: BEGIN, the lock and the reads the
/// checks need, sent together (PostgreSQL runs them in order, so the
/// reads see every transaction that held the lock before); then the
/// rows, the streams' versions, the NOTIFY and COMMIT, sent together. A
/// failed statement aborts the transaction, and the COMMIT after it then
/// rolls back: nothing of the batch is stored.
async fn commit(c: &Conn, batch: &[Request]) -> Result<Committed, StoreError> {
    let ids: Vec<Uuid> = batch.iter().flat_map(|r| &r.parts).flat_map(|p| &p.events).filter_map(|e| e.id).collect();
    let mut streams: Vec<&str> = batch.iter().flat_map(|r| &r.parts).map(|p| p.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    let (ids, streams): ([&(dyn ToSql + Sync); 1], [&(dyn ToSql + Sync); 1]) = ([&ids], [&streams]);
    let (_, _, last, known, versions) = futures::try_join!(
        c.client.execute(&c.begin, &[]),
        c.client.execute(&c.lock, &[&APPEND_LOCK]),
        c.client.query_opt(&c.last, &[]),
        c.client.query(&c.ids, &ids),
        c.client.query(&c.streams, &streams),
    )
    .map_err(pg)?;
    let mut tally = Tally::new(last, &known, &versions)?;
    let results: Vec<_> = batch.iter().map(|r| tally.assign(&r.parts)).collect();
    let written = tally.rows.len() as u64;
    if written == 0 {
        c.client.execute(&c.commit, &[]).await.map_err(pg)?;
    } else {
        insert(c, &tally, None).await.map_err(pg)?;
    }
    Ok(tally.committed(results))
}

impl Tally {
    fn committed(self, results: Vec<Result<Vec<AppendResult>, StoreError>>) -> Committed {
        let events = self.rows.len() as u64;
        let (head, timestamp_us, previous, versions) = (self.next, self.timestamp_us, self.previous, self.versions);
        let found = head - events;
        Committed { results, head, timestamp_us, events, previous, versions, found }
    }

    /// What the reads under the lock found: the last event, the events the
    /// batch's ids name, the streams' last versions.
    fn new(last: Option<Row>, known: &[Row], versions: &[Row]) -> Result<Tally, StoreError> {
        let (next, previous, last_ts) = match last {
            Some(r) => {
                let hash: Vec<u8> = r.get(1);
                let hash: [u8; 32] =
                    hash.try_into().map_err(|_| StoreError::Backend("the last event's hash is not 32 bytes".into()))?;
                (r.get::<_, i64>(0) as u64 + 1, hash, r.get::<_, i64>(2) as u64)
            }
            None => (0, GENESIS, 0),
        };
        let known = row::events(known)?.into_iter().map(|e| (e.id, e)).collect();
        let versions = versions.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect();
        let timestamp_us = crate::now_us().max(last_ts);
        Ok(Tally { next, previous, timestamp_us, known, versions, touched: Default::default(), rows: Vec::new() })
    }

    /// One request's outcome: a retry's original results, a refusal (the
    /// request fails alone), or its events placed after the batch's so far.
    fn assign(&mut self, parts: &[ValidatedPart]) -> Result<Vec<AppendResult>, StoreError> {
        if let Some(results) = check_retry(parts, |id| self.known.get(id).cloned())? {
            return Ok(results);
        }
        check_expectations(parts, |s| self.versions.get(s).copied())?;
        let mut results = Vec::with_capacity(parts.len());
        for part in parts {
            let first_position = self.next;
            let mut version = self.versions.get(&part.stream).map_or(0, |v| v + 1);
            for e in &part.events {
                let event = RecordedEvent {
                    id: e.id.unwrap_or_else(Uuid::now_v7),
                    stream: part.stream.clone(),
                    event_type: e.event_type.clone(),
                    version,
                    position: self.next,
                    timestamp_us: self.timestamp_us,
                    data: e.data.clone(),
                    metadata: e.metadata.clone(),
                    tags: e.tags.clone(),
                };
                self.previous = chain::link(&self.previous, &event);
                // Only an id the client chose can be sent again by a later
                // request of the batch (a retry); ours are new.
                if e.id.is_some() {
                    self.known.insert(event.id, event.clone());
                }
                self.rows.push((event, self.previous));
                version += 1;
                self.next += 1;
            }
            self.versions.insert(part.stream.clone(), version - 1);
            self.touched.insert(part.stream.clone());
            results.push(AppendResult {
                first_position,
                last_position: self.next - 1,
                next_expected_version: version - 1,
            });
        }
        Ok(results)
    }
}

/// Every row of the batch in one `INSERT ... SELECT FROM UNNEST`, the
/// streams' last versions in one upsert, the NOTIFY and the COMMIT, sent
/// together; with `guard`, after BEGIN, the lock and the guard on the last
/// position, all in one round trip.
async fn insert(c: &Conn, t: &Tally, guard: Option<i64>) -> Result<(), tokio_postgres::Error> {
    let n = t.rows.len();
    let mut position = Vec::with_capacity(n);
    let (mut stream, mut kind, mut category) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut version, mut id, mut ts) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut data, mut metadata, mut tags) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut hash = Vec::with_capacity(n);
    for (e, h) in &t.rows {
        position.push(e.position as i64);
        stream.push(e.stream.as_str());
        version.push(e.version as i64);
        id.push(e.id);
        kind.push(e.event_type.as_str());
        category.push(hindsight_store::category_of(&e.stream));
        ts.push(e.timestamp_us as i64);
        data.push(e.data.as_str());
        metadata.push(e.metadata.as_str());
        tags.push(row::tags_text(&e.tags));
        hash.push(h.as_slice());
    }
    let (names, lasts): (Vec<&str>, Vec<i64>) =
        t.touched.iter().map(|s| (s.as_str(), t.versions.get(s).map_or(0, |v| *v as i64))).unzip();
    let head = t.next.to_string();
    let rows: [&(dyn ToSql + Sync); 11] =
        [&position, &stream, &version, &id, &kind, &category, &ts, &data, &metadata, &tags, &hash];
    let streams: [&(dyn ToSql + Sync); 2] = [&names, &lasts];
    let notify: [&(dyn ToSql + Sync); 2] = [&HEAD_CHANNEL, &head];
    let write = async {
        futures::try_join!(
            c.client.execute(&c.insert, &rows),
            c.client.execute(&c.upsert, &streams),
            c.client.execute(&c.notify, &notify),
            c.client.execute(&c.commit, &[]),
        )
    };
    // Requests go out in the order the futures are first polled: as listed.
    match guard {
        None => write.await.map(drop),
        Some(last) => {
            let (lock, guard): ([&(dyn ToSql + Sync); 1], [&(dyn ToSql + Sync); 1]) = ([&APPEND_LOCK], [&last]);
            futures::try_join!(
                c.client.execute(&c.begin, &[]),
                c.client.execute(&c.lock, &lock),
                c.client.execute(&c.guard, &guard),
                write,
            )
            .map(drop)
        }
    }
}
