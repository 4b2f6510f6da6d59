//! Accepting connections. A careless or hostile client must not hurt the
//! store: open connections are capped (over the cap a new connection gets
//! a short 503 and is closed, so connections can never take the file
//! descriptors the store needs); a connection that sends no complete
//! request header within the idle timeout, whether fresh, between
//! keep-alive requests, or trickling its header, is closed; and shutdown is
//! graceful (no new connections, in-flight requests finish).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// How long a connection may go without sending a whole request header
    /// (a slow header, or an idle keep-alive connection).
    pub idle_timeout: Duration,
}

/// How long a refused connection gets to take its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed accept (out of file descriptors, say) before the
/// next, so a flood cannot spin the accept loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` turns true, then stops
/// accepting and waits for every open connection to finish.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.idle_timeout).keep_alive(true);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    metrics::counter!("hindsight_accept_errors_total").increment(1);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        // Small request/response pairs: don't let Nagle hold them back.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!("hindsight_connections_refused_total").increment(1);
            tokio::spawn(refuse(tcp, limits.max_connections));
            continue;
        };
        metrics::gauge!("hindsight_connections_open").increment(1.0);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone())));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            metrics::gauge!("hindsight_connections_open").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Answers a connection over the cap with 503 and closes it, without
/// reading its request.
async fn refuse(mut tcp: TcpStream, max: usize) {
    let body = format!(
        r#"{{"error":"too_many_connections","message":"the server already holds its maximum of {max} connections; retry shortly"}}"#
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}
