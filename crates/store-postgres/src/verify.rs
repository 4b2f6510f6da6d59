//! `verify` on PostgreSQL: walks the events table in position order and
//! checks what a row changed behind Hindsight's back would break: positions
//! gapless from 0, every row's hash equal to the link of the previous hash
//! and the row's fields, each stream's versions gapless from 0, the
//! category derived from the stream, and the streams table agreeing with
//! the events. It reads a snapshot up to the head it finds at the start,
//! so it can run while servers append.

use std::collections::HashMap;

use futures::TryStreamExt;
use hindsight_store::StoreError;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use crate::chain::{self, GENESIS};
use crate::error::pg;
use crate::row::{self, COLUMNS};

/// Rows fetched per query.
const PAGE_ROWS: i64 = 20_000;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The event at fault (None for a problem of the streams table).
    pub position: Option<u64>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Events checked (all below the head found at the start, unless a
    /// problem stopped the walk).
    pub events: u64,
    pub streams: u64,
    pub problem: Option<Problem>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies the store at `url`; `progress(done, total)` is called per page.
pub async fn verify(url: &str, mut progress: impl FnMut(u64, u64)) -> Result<Report, StoreError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|e| StoreError::Backend(format!("the PostgreSQL URL is invalid: {e}")))?;
    let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
    tokio::spawn(connection);
    let head = crate::head::read(&client).await?.0;
    let mut walk = Walk { previous: GENESIS, versions: HashMap::new(), report: Report::default() };
    let page = client
        .prepare(&format!(
            "SELECT {COLUMNS}, category, hash FROM hs_events WHERE position >= $1 AND position < $2
             ORDER BY position LIMIT $3"
        ))
        .await
        .map_err(pg)?;
    while walk.report.events < head && walk.report.problem.is_none() {
        let from = walk.report.events as i64;
        let end = head as i64;
        let params: [&(dyn ToSql + Sync); 3] = [&from, &end, &PAGE_ROWS];
        let rows = client.query_raw(&page, params).await.map_err(pg)?;
        futures::pin_mut!(rows);
        let before = walk.report.events;
        while let Some(r) = rows.try_next().await.map_err(pg)? {
            if !walk.row(&r)? {
                break;
            }
        }
        if walk.report.events == before && walk.report.problem.is_none() {
            walk.fail(Some(walk.report.events), "missing: positions below the head must have no gap".into());
        }
        progress(walk.report.events, head);
    }
    if walk.report.problem.is_none() {
        walk.report.problem = streams_table(&client, &walk.versions).await?;
    }
    walk.report.streams = walk.versions.len() as u64;
    Ok(walk.report)
}

struct Walk {
    previous: [u8; 32],
    /// Each stream's last version seen.
    versions: HashMap<String, u64>,
    report: Report,
}

impl Walk {
    fn fail(&mut self, position: Option<u64>, detail: String) {
        self.report.problem = Some(Problem { position, detail });
    }

    /// Checks one row; false once a problem is found.
    fn row(&mut self, r: &tokio_postgres::Row) -> Result<bool, StoreError> {
        let expected = self.report.events;
        let e = row::event(r)?;
        let (category, stored): (&str, &[u8]) = (r.get(9), r.get(10));
        let p = Some(e.position);
        if e.position != expected {
            self.fail(Some(expected), format!("missing: the next row is at position {}", e.position));
        } else if chain::link(&self.previous, &e).as_slice() != stored {
            self.fail(p, "the row's hash does not match its fields and the previous hash: it was changed".into());
        } else if e.version != self.versions.get(&e.stream).map_or(0, |v| v + 1) {
            self.fail(p, format!("version {} of stream {:?} does not follow its previous one", e.version, e.stream));
        } else if category != hindsight_store::category_of(&e.stream) {
            self.fail(p, format!("the category {category:?} is not the stream's"));
        }
        if self.report.problem.is_some() {
            return Ok(false);
        }
        self.previous.copy_from_slice(stored);
        self.versions.insert(e.stream, e.version);
        self.report.events += 1;
        Ok(true)
    }
}

/// The streams table against the events: a stream's last version may be
/// ahead of the walk's snapshot (a server appended since), never behind,
/// and no stream may be missing.
async fn streams_table(client: &Client, versions: &HashMap<String, u64>) -> Result<Option<Problem>, StoreError> {
    let rows = client.query("SELECT stream, last_version FROM hs_streams", &[]).await.map_err(pg)?;
    let table: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for (stream, last) in versions {
        match table.get(stream) {
            None => return Ok(Some(Problem { position: None, detail: format!("stream {stream:?} is not listed") })),
            Some(&v) if v < *last as i64 => {
                return Ok(Some(Problem {
                    position: None,
                    detail: format!("stream {stream:?} is listed at version {v}, behind its events ({last})"),
                }))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}
