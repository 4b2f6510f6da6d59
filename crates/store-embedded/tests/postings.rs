//! Filtered `$all` reads through the posting lists equal a brute-force
//! filter of the whole log: for random logs across categories and types,
//! random filters, starting points, directions, page sizes and as-of
//! bounds; with the postings in memtables, in runs and in merged runs;
//! and again after the index directory is deleted (rebuilt from the log)
//! and after a kill -9 (the tail replayed).

use std::path::Path;

use hindsight_store::{
    AsOf, Direction, EventReader, EventStore, ExpectedVersion, Filter, NewEvent, ReadAll, RecordedEvent,
};
use hindsight_store_embedded::{Config, EmbeddedStore};
use proptest::prelude::*;
use serde_json::json;

const CATEGORIES: [&str; 4] = ["order", "user", "stock", "orders"];
const TYPES: [&str; 5] = ["Placed", "Paid", "Shipped", "Joined", "Left"];

fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.memtable_events_max = 13;
    c.segment_bytes_target = 8192;
    c
}

#[derive(Debug, Clone)]
struct Query {
    category: Option<usize>,
    stream: Option<(usize, u8)>,
    types: Vec<usize>,
    prefix: bool,
    from: Option<u16>,
    backward: bool,
    limit: u16,
    as_of: Option<u16>,
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::option::of(0..CATEGORIES.len()),
        prop::option::weighted(0.2, (0..CATEGORIES.len(), 0u8..3)),
        prop::collection::vec(0..TYPES.len(), 0..3),
        prop::bool::weighted(0.15),
        prop::option::of(0u16..400),
        any::<bool>(),
        prop_oneof![9 => 1u16..40, 1 => 500u16..1200],
        prop::option::weighted(0.3, 0u16..400),
    )
        .prop_map(|(category, stream, types, prefix, from, backward, limit, as_of)| Query {
            category,
            stream,
            types,
            prefix,
            from,
            backward,
            limit,
            as_of,
        })
}

fn filter(q: &Query) -> Filter {
    Filter {
        stream: q.stream.map(|(c, n)| format!("{}-{n}", CATEGORIES[c])),
        category: q.category.map(|c| CATEGORIES[c].to_string()),
        stream_prefix: q.prefix.then(|| "ord".to_string()),
        event_types: q.types.iter().map(|&t| TYPES[t].to_string()).collect(),
    }
}

/// Pages through the whole read and returns what it found; every page
/// must make progress.
async fn page_through(store: &EmbeddedStore, q: &Query, head: u64) -> Vec<u64> {
    let as_of = q.as_of.map(|p| AsOf::Position(u64::from(p).min(head.saturating_sub(1))));
    let mut read = ReadAll {
        from: q.from.map(u64::from),
        direction: if q.backward { Direction::Backward } else { Direction::Forward },
        limit: q.limit.into(),
        filter: filter(q),
        as_of: as_of.filter(|_| head > 0),
    };
    let mut found = Vec::new();
    for _ in 0..10_000 {
        let page = store.read_all(&read).await.unwrap();
        assert!(page.events.len() <= read.limit);
        found.extend(page.events.iter().map(|e| e.position));
        if page.end_of_log {
            return found;
        }
        if let Some(from) = read.from {
            match read.direction {
                Direction::Forward => assert!(page.next_position > from, "no progress: {read:?} {page:?}"),
                Direction::Backward => assert!(page.next_position < from, "no progress: {read:?} {page:?}"),
            }
        }
        read.from = Some(page.next_position);
    }
    panic!("paging never ended: {read:?}");
}

fn brute_force(log: &[RecordedEvent], q: &Query, head: u64) -> Vec<u64> {
    let f = filter(q);
    let end = match q.as_of {
        Some(p) if head > 0 => u64::from(p).min(head - 1) + 1,
        _ => head,
    };
    let visible = log.iter().filter(|e| e.position < end && f.matches(&e.stream, &e.event_type));
    match (q.backward, q.from) {
        (false, from) => visible.filter(|e| e.position >= u64::from(from.unwrap_or(0))).map(|e| e.position).collect(),
        (true, from) => {
            let from = from.map_or(u64::MAX, u64::from);
            let mut v: Vec<u64> = visible.filter(|e| e.position <= from).map(|e| e.position).collect();
            v.reverse();
            v
        }
    }
}

async fn check_all(store: &EmbeddedStore, queries: &[Query], when: &str) {
    let log = store.read_all(&ReadAll::forward(0).limit(usize::MAX)).await.unwrap().events;
    let head = store.next_position();
    for q in queries {
        assert_eq!(page_through(store, q, head).await, brute_force(&log, q, head), "{when}: {q:?}");
    }
}

fn run_case(appends: Vec<(usize, u8, Vec<usize>)>, queries: Vec<Query>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(config(dir.path())).unwrap();
        for (c, n, types) in &appends {
            let events = types.iter().map(|&t| NewEvent::new(TYPES[t], json!({ "t": t }))).collect();
            store.append(&format!("{}-{n}", CATEGORIES[*c]), ExpectedVersion::Any, events).await.unwrap();
        }
        check_all(&store, &queries, "live").await;
        // kill -9 after the last acknowledgement: the tail is replayed.
        store.close_without_checkpoint();
        drop(store);
        let store = EmbeddedStore::open(config(dir.path())).unwrap();
        check_all(&store, &queries, "after kill -9").await;
        store.close().unwrap();
        drop(store);
        // The index deleted: rebuilt from the log.
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        let store = EmbeddedStore::open(config(dir.path())).unwrap();
        assert_eq!(store.stats().recovery.replayed_events, store.stats().events, "the whole log is replayed");
        check_all(&store, &queries, "after the index was deleted").await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn indexed_filtered_reads_equal_a_brute_force_filter(
        appends in prop::collection::vec((0..CATEGORIES.len(), 0u8..3, prop::collection::vec(0..TYPES.len(), 1..6)), 0..120),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        run_case(appends, queries);
    }
}

/// Pages large enough to be read by several threads, in both directions,
/// equal the brute-force filter too.
#[test]
fn large_pages_read_in_parallel_equal_a_brute_force_filter() {
    let appends: Vec<(usize, u8, Vec<usize>)> =
        (0..1200).map(|i| (i % 3, (i % 2) as u8, vec![i % TYPES.len(), (i + 1) % TYPES.len()])).collect();
    let queries = [0, 1, 2]
        .into_iter()
        .flat_map(|c| {
            [false, true].map(|backward| Query {
                category: Some(c),
                stream: None,
                types: Vec::new(),
                prefix: false,
                from: None,
                backward,
                limit: 1000,
                as_of: None,
            })
        })
        .chain([Query {
            category: None,
            stream: None,
            types: vec![0, 1],
            prefix: false,
            from: Some(3),
            backward: false,
            limit: 1000,
            as_of: None,
        }])
        .collect();
    run_case(appends, queries);
}
