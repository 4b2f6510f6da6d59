//! The reference model passes the conformance suite: the suite and the
//! model check each other before either is used against a real backend.

use std::sync::Arc;

use hindsight_store::conformance::Fixture;
use hindsight_store::MemoryStore;

async fn fresh() -> Fixture {
    Fixture { store: Arc::new(MemoryStore::default()), guard: Box::new(()) }
}

hindsight_store::conformance_tests!(fresh);
