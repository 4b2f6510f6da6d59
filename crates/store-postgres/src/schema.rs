//! The schema, created and upgraded by numbered migrations when a store
//! opens. Servers starting together take a session advisory lock first,
//! so exactly one applies each migration and the others find it done.

use tokio_postgres::Client;

use crate::error::pg;
use hindsight_store::StoreError;

/// The advisory lock key migrations run under ("hs" "migr").
const MIGRATION_LOCK: i64 = 0x6873_6d69_6772;

/// Each migration: its number and its SQL, applied in order, each in a
/// transaction of its own. Never edit one that has shipped: add another.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE hs_events (
        position bigint PRIMARY KEY,
        stream text NOT NULL,
        version bigint NOT NULL,
        id uuid NOT NULL UNIQUE,
        type text NOT NULL,
        category text NOT NULL,
        timestamp_us bigint NOT NULL,
        data text NOT NULL,
        metadata text NOT NULL,
        tags text NOT NULL,
        hash bytea NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE TABLE hs_streams (
        stream text PRIMARY KEY,
        last_version bigint NOT NULL
    );
    CREATE INDEX hs_events_category ON hs_events (category, position);
    CREATE INDEX hs_events_type ON hs_events (type, position);",
    ),
    (
        2,
        "CREATE TABLE hs_projections (
            name text PRIMARY KEY,
            definition bytea NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE hs_checkpoints (
            name text NOT NULL,
            version bigint NOT NULL,
            position bigint,
            checkpoint bytea NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (name, version)
        );",
    ),
    (
        3,
        "CREATE TABLE hs_forks (
            name text PRIMARY KEY,
            fork bytea NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );",
    ),
];

/// `hindsight migrate`: connects to `url` and applies what it lacks;
/// (the migration the database was at, the newest).
pub async fn migrate_url(url: &str) -> Result<(i32, i32), StoreError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|e| StoreError::Backend(format!("the PostgreSQL URL is invalid: {e}")))?;
    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(pg)?;
    tokio::spawn(connection);
    let before = client
        .query_opt("SELECT max(version) FROM hs_migrations", &[])
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    Ok((before, migrate(&mut client).await?))
}

/// Applies the migrations this database lacks; the number of the newest.
pub async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    let applied = apply(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(pg);
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

async fn apply(client: &mut Client) -> Result<i32, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hs_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg)?;
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM hs_migrations", &[]).await.map_err(pg)?;
    let done: i32 = row.get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if done > newest {
        return Err(StoreError::Backend(format!(
            "the database's schema is at migration {done}, newer than this Hindsight knows ({newest}): upgrade Hindsight"
        )));
    }
    for (number, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > done) {
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO hs_migrations (version) VALUES ($1)", &[number]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(migration = number, "applied a schema migration");
    }
    Ok(newest)
}
