//! Catch-up-then-live subscriptions over any [`EventStore`].
//!
//! A subscription never holds more than one page: it reads `$all` from its
//! own position until it reaches the committed end, then waits for the
//! store's next-position watch to move and reads again. Catch-up and live
//! are the same loop, so there is no hand-over at which an event could be
//! missed or seen twice, and a slow consumer costs the server one page of
//! memory, never a growing buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{self, Stream};

use crate::{EventStore, Filter, ReadAll, RecordedEvent, StoreError};

/// Events per read while catching up.
pub const PAGE_EVENTS: usize = 1_000;

struct State {
    store: Arc<dyn EventStore>,
    /// The next page's read; its `from` is the subscription's position.
    read: ReadAll,
    buffer: VecDeque<RecordedEvent>,
    watch: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

/// Every event at or after position `from` that matches `filter`, exactly
/// once and in position order: first those already stored, then each new
/// commit as it becomes durable. Ends when the store closes.
pub fn subscribe(
    store: Arc<dyn EventStore>,
    from: u64,
    filter: Filter,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send {
    let watch = store.watch_next_position();
    let read = ReadAll::forward(from).limit(PAGE_EVENTS).filter(filter);
    let state = State { store, read, buffer: VecDeque::new(), watch, done: false };
    stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            if let Some(event) = s.buffer.pop_front() {
                return Some((Ok(event), s));
            }
            let committed = *s.watch.borrow_and_update();
            let next = s.read.from.unwrap_or(0);
            if next < committed {
                match s.store.read_all(&s.read).await {
                    Ok(slice) => {
                        s.read.from = Some(slice.next_position.max(next));
                        s.buffer.extend(slice.events);
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                }
                continue;
            }
            if s.watch.changed().await.is_err() {
                // The store closed: deliver what it committed last, then end.
                if s.read.from.unwrap_or(0) >= *s.watch.borrow() {
                    return None;
                }
            }
        }
    })
}
