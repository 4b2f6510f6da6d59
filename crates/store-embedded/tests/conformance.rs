//! The embedded engine passes the shared conformance suite. Segments and
//! the memtable are kept tiny so that every check also crosses segment
//! rotations and index flushes.

use std::sync::Arc;

use hindsight_store::conformance::Fixture;
use hindsight_store_embedded::{Config, EmbeddedStore};

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path());
    config.segment_bytes_target = 8 << 10;
    config.memtable_events_max = 64;
    let store = EmbeddedStore::open(config).expect("open");
    Fixture { store: Arc::new(store), guard: Box::new(dir) }
}

hindsight_store::conformance_tests!(fresh);
