//! Which store a command works on: PostgreSQL when `--store URL` names
//! one, else the embedded store in the data directory.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use hindsight_projections::keeping::{DirKeeping, Keeping};
use hindsight_projections::registry::{Registry, Settings};
use hindsight_store::EventStore;
use hindsight_store_postgres::keeping::PgKeeping;
use hindsight_store_postgres::{Options, PostgresStore};

/// The store a command was pointed at, and the data directory, which
/// holds what lives beside the log (projections, snapshots, forks) with
/// either store.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub dir: &'a Path,
    /// The PostgreSQL URL; None for the embedded store in `dir`.
    pub postgres: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// `--store` must be a PostgreSQL URL when given.
    pub fn new(dir: &'a Path, store: Option<&'a str>) -> anyhow::Result<Self> {
        match store {
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => anyhow::bail!(
                "--store {:?} is not a postgres:// URL (leave it out for the embedded store in the data directory)",
                redact(url)
            ),
            postgres => Ok(Target { dir, postgres }),
        }
    }

    /// Opens the store; `existing` refuses a data directory that holds no
    /// store (a mistyped `--data-dir` must not answer with nothing).
    pub async fn open(self, existing: bool) -> anyhow::Result<Arc<dyn EventStore>> {
        Ok(match self.postgres {
            Some(url) => Arc::new(connect(url, Options::default()).await?),
            None if existing => Arc::new(super::open_existing(self.dir)?),
            None => Arc::new(super::open_store(self.dir)?),
        })
    }

    /// The projections beside the store: the data directory's, or those
    /// the PostgreSQL database shares with every server on it.
    pub fn projections(self, store: Arc<dyn EventStore>) -> anyhow::Result<Arc<Registry>> {
        let keeping: Arc<dyn Keeping> = match self.postgres {
            Some(url) => Arc::new(PgKeeping::new(url).with_context(|| format!("the projections in {}", redact(url)))?),
            None => Arc::new(DirKeeping::open(self.dir.join("projections"))?),
        };
        let rt = tokio::runtime::Handle::current();
        Ok(Registry::open_in(keeping, store, rt, Settings::default())?)
    }

    /// What messages call the store.
    pub fn describe(self) -> String {
        match self.postgres {
            Some(url) => redact(url),
            None => self.dir.display().to_string(),
        }
    }
}

/// Connects to PostgreSQL (applying the migrations it lacks).
pub async fn connect(url: &str, options: Options) -> anyhow::Result<PostgresStore> {
    PostgresStore::connect(url, options).await.with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))
}

/// A URL with its password (if any) left out, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(redact("postgres://bob:secret@db:5432/events"), "postgres://bob@db:5432/events");
        assert_eq!(redact("postgres://bob@db/events"), "postgres://bob@db/events");
        assert_eq!(redact("postgres://db/events"), "postgres://db/events");
    }

    #[test]
    fn only_postgres_urls_are_stores() {
        let dir = Path::new("d");
        assert_eq!(Target::new(dir, None).unwrap().postgres, None);
        assert_eq!(Target::new(dir, Some("postgresql://x/y")).unwrap().postgres, Some("postgresql://x/y"));
        let refused = Target::new(dir, Some("mysql://a:pw@x/y")).unwrap_err().to_string();
        assert!(refused.contains("mysql://a@x/y") && !refused.contains("pw"), "{refused}");
    }
}
