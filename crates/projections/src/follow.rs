//! Servers that share their projections' keeping (one PostgreSQL
//! database) follow each other. Every server runs every projection, so
//! each answers queries from its own memory; exactly one, the one holding
//! the projection's lock in the keeping, leads it: it alone writes
//! checkpoints and publishes output. The others fold from the leader's
//! last checkpoint and keep what they fold in memory.
//!
//! Once a second each server here:
//! - starts projections another server created, stops those another
//!   deleted, and restarts those another changed (a new version, a pause,
//!   a policy; the blue/green switch);
//! - tries to lead each projection it follows: when the leader is gone
//!   (its connection closed, which releases its lock), the first to take
//!   the lock restarts it as leader from the last checkpoint, folding
//!   again what the old leader folded after it; output published twice
//!   carries the same ids, so the store answers the repeat as a retry;
//! - restarts as a follower a projection it no longer leads (its
//!   connection to the keeping was lost).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::registry::{Definition, Registry};

/// How often a server looks at what the others changed, and for
/// projections nobody leads.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

impl Registry {
    /// Follows the other servers until the registry is dropped.
    pub(crate) fn follow_others(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        self.rt.spawn(async move {
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                let Some(registry) = weak.upgrade() else { return };
                registry.follow_once().await;
            }
        });
    }

    async fn follow_once(&self) {
        let keeping = self.keeping.clone();
        let kept = match tokio::task::spawn_blocking(move || keeping.definitions()).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(e)) => return tracing::warn!(error = %e, "reading the shared projections"),
            Err(_) => return,
        };
        let mut others: BTreeMap<String, (Vec<u8>, Definition)> = BTreeMap::new();
        for (place, body) in kept {
            match serde_json::from_slice::<Definition>(&body) {
                Ok(d) => drop(others.insert(d.name.clone(), (body, d))),
                Err(e) => tracing::warn!(error = %e, %place, "a shared projection's definition is damaged"),
            }
        }
        let here: Vec<(String, bool)> = self.lock().iter().map(|(n, l)| (n.clone(), l.leader)).collect();
        for (name, _) in &here {
            if !others.contains_key(name) {
                tracing::info!(projection = %name, "deleted on another server: stopped");
                self.stop(name).await;
            }
        }
        for (name, (body, definition)) in others {
            let mine = self.saved_here.lock().unwrap_or_else(|p| p.into_inner()).get(&name) == Some(&body);
            let running = here.iter().find(|(n, _)| *n == name).map(|(_, leader)| *leader);
            let same = self.lock().get(&name).is_some_and(|l| same_definition(&l.definition, &definition));
            let restart = match running {
                None => true,
                Some(_) if !same && !mine => true,
                Some(false) => self.keeping.lead(&name),
                Some(true) => !self.keeping.leads(&name),
            };
            if restart {
                self.restart(&name, definition).await;
            }
        }
    }

    async fn restart(&self, name: &str, definition: Definition) {
        self.stop(name).await;
        if let Err(e) = self.start(definition) {
            tracing::error!(error = %e, projection = %name, "starting a shared projection");
        }
        let leader = self.lock().get(name).is_some_and(|l| l.leader);
        tracing::info!(projection = %name, leader, "following the shared projection");
    }
}

fn same_definition(a: &Definition, b: &Definition) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}
