//! The reader half of the contract in SQL. Every read is capped at the
//! head this server knows committed (or the as-of point below it): the
//! log below the head is a gapless prefix (see `writer`), so a read never
//! shows an event and later another with a lower position.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures::TryStreamExt;
use hindsight_store::limits::{Page, READ_EXAMINED_MAX, READ_LIMIT_MAX};
use hindsight_store::{
    end_position, AllSlice, AsOf, Direction, EventReader, Filter, ReadAll, ReadStream, RecordedEvent, StoreError,
    StreamInfo,
};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;

use crate::error::{pg, pool};
use crate::row::{self, COLUMNS};
use crate::PostgresStore;

/// The first position below the head ($1) stamped at or after $2: `lo`
/// and `hi` close in on it, halving each step.
const POSITION_AT: &str = "WITH RECURSIVE search(lo, hi) AS (
        SELECT 0::bigint, $1::bigint
        UNION ALL
        SELECT CASE WHEN e.timestamp_us >= $2 THEN lo ELSE (lo + hi) / 2 + 1 END,
               CASE WHEN e.timestamp_us >= $2 THEN (lo + hi) / 2 ELSE hi END
        FROM search JOIN hs_events e ON e.position = (lo + hi) / 2
        WHERE lo < hi
    )
    SELECT min(hi) FROM search";

/// Fills a page (events and bytes) from rows in read order.
fn fill(rows: Vec<RecordedEvent>, limit: usize) -> (Vec<RecordedEvent>, bool) {
    let mut page = Page::new(limit);
    let mut out = Vec::with_capacity(rows.len());
    for e in rows {
        if !page.has_room() {
            break;
        }
        page.add(&e);
        out.push(e);
    }
    (out, page.has_room())
}

/// The filter's conditions as SQL, its parameters appended to `params`.
fn conditions(filter: &Filter, params: &mut Vec<Box<dyn ToSql + Sync + Send>>) -> String {
    let mut sql = String::new();
    let mut add = |template: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        sql.push_str(&template.replace('#', &format!("${}", params.len())));
    };
    if let Some(s) = &filter.stream {
        add(" AND stream = #", Box::new(s.clone()));
    }
    if let Some(c) = &filter.category {
        add(" AND category = #", Box::new(c.clone()));
    }
    if let Some(p) = &filter.stream_prefix {
        // left(stream, n) = prefix: no LIKE escaping to get wrong.
        add(" AND left(stream, char_length(#)) = #", Box::new(p.clone()));
    }
    if !filter.event_types.is_empty() {
        add(" AND type = ANY(#)", Box::new(filter.event_types.clone()));
    }
    sql
}

impl PostgresStore {
    async fn end(&self, as_of: Option<AsOf>, stream: Option<&str>) -> Result<u64, StoreError> {
        match as_of {
            Some(a) => end_position(self, a, stream).await,
            None => Ok(self.next_position()),
        }
    }

    async fn query(
        &self,
        sql: &str,
        params: &[Box<dyn ToSql + Sync + Send>],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        query(&self.pool, sql, params).await
    }

    /// An unfiltered forward page of `n` events from `from`: positions
    /// below the head are dense, so the range splits by count into halves
    /// read on two connections at once (PostgreSQL sends one while the
    /// other is decoded).
    async fn dense_page(&self, from: u64, n: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        if n < SPLIT_AT {
            let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(from as i64), Box::new((from + n) as i64)];
            return self.query(&dense(), &params).await;
        }
        let mid = from + n / 2;
        let halves = [(from, mid), (mid, from + n)].map(|(lo, hi)| {
            let pool = self.pool.clone();
            tokio::spawn(async move {
                let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(lo as i64), Box::new(hi as i64)];
                query(&pool, &dense(), &params).await
            })
        });
        let mut events = Vec::with_capacity(n as usize);
        for half in halves {
            let part = half.await.map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))??;
            events.extend(part);
        }
        Ok(events)
    }
}

/// Runs a read through a statement cached on its connection, decoding
/// rows as they arrive (PostgreSQL still sends the rest meanwhile).
async fn query(
    pool: &deadpool_postgres::Pool,
    sql: &str,
    params: &[Box<dyn ToSql + Sync + Send>],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let client = pool.get().await.map_err(crate::error::pool)?;
    let statement = client.prepare_cached(sql).await.map_err(pg)?;
    let refs = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync));
    let rows = client.query_raw(&statement, refs).await.map_err(pg)?;
    futures::pin_mut!(rows);
    let mut events = Vec::new();
    while let Some(row) = rows.try_next().await.map_err(pg)? {
        events.push(row::event(&row)?);
    }
    Ok(events)
}

/// A dense range of positions, [$1, $2).
fn dense() -> String {
    format!("SELECT {COLUMNS} FROM hs_events WHERE position >= $1 AND position < $2 ORDER BY position")
}

/// Pages of at least this many events are read in two halves at once.
const SPLIT_AT: u64 = 2_000;

#[async_trait]
impl EventReader for PostgresStore {
    async fn read_stream(&self, read: &ReadStream) -> Result<Vec<RecordedEvent>, StoreError> {
        let end = self.end(read.as_of, Some(&read.stream)).await?;
        let limit = read.limit.min(READ_LIMIT_MAX);
        let (cmp, order, from) = match read.direction {
            Direction::Forward => (">=", "ASC", read.from.unwrap_or(0)),
            Direction::Backward => ("<=", "DESC", read.from.unwrap_or(i64::MAX as u64)),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM hs_events WHERE stream = $1 AND version {cmp} $2 AND position < $3
             ORDER BY version {order} LIMIT $4"
        );
        let from = from.min(i64::MAX as u64) as i64;
        let params: Vec<Box<dyn ToSql + Sync + Send>> =
            vec![Box::new(read.stream.clone()), Box::new(from), Box::new(end as i64), Box::new(limit as i64)];
        Ok(fill(self.query(&sql, &params).await?, read.limit).0)
    }

    async fn read_all(&self, read: &ReadAll) -> Result<AllSlice, StoreError> {
        let end = self.end(read.as_of, None).await?;
        let limit = read.limit.min(READ_LIMIT_MAX);
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        match read.direction {
            Direction::Forward if read.filter.is_empty() => {
                let from = read.from.unwrap_or(0).min(end);
                let n = (end - from).min(limit as u64);
                let (events, room) = fill(self.dense_page(from, n).await?, read.limit);
                let next = match (room, events.last()) {
                    (false, Some(e)) => e.position + 1,
                    _ => from + events.len() as u64,
                };
                Ok(AllSlice { events, next_position: next, end_of_log: next >= end })
            }
            Direction::Forward => {
                // At most READ_EXAMINED_MAX positions are looked at per call.
                let from = read.from.unwrap_or(0).min(end);
                let window_end = end.min(from.saturating_add(READ_EXAMINED_MAX as u64));
                params.push(Box::new(from as i64));
                params.push(Box::new(window_end as i64));
                let filter = conditions(&read.filter, &mut params);
                params.push(Box::new(limit as i64));
                let sql = format!(
                    "SELECT {COLUMNS} FROM hs_events WHERE position >= $1 AND position < $2{filter}
                     ORDER BY position LIMIT ${}",
                    params.len()
                );
                let (events, room) = fill(self.query(&sql, &params).await?, read.limit);
                let next = match (room, events.last()) {
                    (true, _) => window_end,
                    (false, Some(e)) => e.position + 1,
                    (false, None) => from,
                };
                Ok(AllSlice { events, next_position: next, end_of_log: next >= end })
            }
            Direction::Backward => {
                let Some(last) = end.checked_sub(1) else {
                    return Ok(AllSlice { events: Vec::new(), next_position: 0, end_of_log: true });
                };
                let from = read.from.unwrap_or(last).min(last);
                let low = (from + 1).saturating_sub(READ_EXAMINED_MAX as u64);
                params.push(Box::new(from as i64));
                params.push(Box::new(low as i64));
                let filter = conditions(&read.filter, &mut params);
                params.push(Box::new(limit as i64));
                let sql = format!(
                    "SELECT {COLUMNS} FROM hs_events WHERE position <= $1 AND position >= $2{filter}
                     ORDER BY position DESC LIMIT ${}",
                    params.len()
                );
                let (events, room) = fill(self.query(&sql, &params).await?, read.limit);
                let lowest = match (room, events.last()) {
                    (true, _) => low,
                    (false, Some(e)) => e.position,
                    (false, None) => from + 1,
                };
                Ok(AllSlice { events, next_position: lowest.saturating_sub(1), end_of_log: lowest == 0 })
            }
        }
    }

    async fn stream_info(&self, stream: &str, as_of: Option<AsOf>) -> Result<Option<StreamInfo>, StoreError> {
        let end = self.end(as_of, Some(stream)).await?;
        let client = self.pool.get().await.map_err(pool)?;
        let row = client
            .query_one(
                "SELECT min(position), max(position), max(version) FROM hs_events WHERE stream = $1 AND position < $2",
                &[&stream, &(end as i64)],
            )
            .await
            .map_err(pg)?;
        let (first, last, version): (Option<i64>, Option<i64>, Option<i64>) = (row.get(0), row.get(1), row.get(2));
        Ok(match (first, last, version) {
            (Some(first), Some(last), Some(version)) => Some(StreamInfo {
                stream: stream.to_string(),
                last_version: version as u64,
                first_position: first as u64,
                last_position: last as u64,
            }),
            _ => None,
        })
    }

    /// Timestamps never decrease along positions (the writer stamps a
    /// batch with the later of its clock and the last event's), so the
    /// answer is a binary search over the primary key, in one statement:
    /// no index on time to keep up on every append.
    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
        let client = self.pool.get().await.map_err(pool)?;
        let statement = client.prepare_cached(POSITION_AT).await.map_err(pg)?;
        let head = self.next_position() as i64;
        let t = timestamp_us.min(i64::MAX as u64) as i64;
        let row = client.query_one(&statement, &[&head, &t]).await.map_err(pg)?;
        let first = row.get::<_, i64>(0);
        Ok((first < head).then_some(first as u64))
    }

    fn clock_us(&self) -> u64 {
        crate::now_us().max(self.shared.last_timestamp_us.load(Ordering::Acquire))
    }

    fn next_position(&self) -> u64 {
        *self.shared.head.borrow()
    }

    fn watch_next_position(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    async fn event_by_id(&self, id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM hs_events WHERE id = $1 AND position < $2");
        let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(id), Box::new(self.next_position() as i64)];
        Ok(self.query(&sql, &params).await?.into_iter().next())
    }
}
