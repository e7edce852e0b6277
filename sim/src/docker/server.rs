//! Serving an engine on a unix socket (HTTP/1.1, as dockerd does), and the handle that stops it.

use std::path::{Path, PathBuf};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::engine::DockerEngine;
use super::http;
use crate::SimClock;

/// Why the emulator could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("failed to remove stale socket {path}")]
    RemoveStale {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
    #[error("failed to bind unix socket {path}")]
    Bind {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
}

/// Entry points of the Docker emulator.
pub struct DockerSim;

impl DockerSim {
    /// Serves a new, empty engine on `socket_path`. Must be called inside a tokio runtime.
    pub async fn serve(
        socket_path: impl AsRef<Path>,
        clock: SimClock,
    ) -> Result<DockerSimHandle, ServeError> {
        Self::serve_engine(socket_path, DockerEngine::new(clock)).await
    }

    /// Serves an existing engine (e.g. one host of [`super::DockerHosts`]) on `socket_path`.
    /// A stale socket file at that path is replaced.
    pub async fn serve_engine(
        socket_path: impl AsRef<Path>,
        engine: DockerEngine,
    ) -> Result<DockerSimHandle, ServeError> {
        let path = socket_path.as_ref().to_path_buf();
        if path.exists() {
            std::fs::remove_file(&path).map_err(|err| ServeError::RemoveStale {
                path: path.clone(),
                err,
            })?;
        }
        let listener = UnixListener::bind(&path).map_err(|err| ServeError::Bind {
            path: path.clone(),
            err,
        })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, engine.clone(), shutdown_rx));
        tracing::info!(socket = %path.display(), "docker emulator serving");
        Ok(DockerSimHandle {
            engine,
            socket_path: path,
            shutdown_tx,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct DockerSimHandle {
    engine: DockerEngine,
    socket_path: PathBuf,
    shutdown_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DockerSimHandle {
    /// The engine behind the socket, for `sim_*` calls.
    pub fn engine(&self) -> &DockerEngine {
        &self.engine
    }

    /// The socket path served.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Stops accepting, drops open connections (ending `/events` streams) and removes the
    /// socket file.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "docker emulator accept loop ended abnormally");
        }
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

impl Drop for DockerSimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

async fn accept_loop(
    listener: UnixListener,
    engine: DockerEngine,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Cancel-safe: UnixListener::accept loses no connection when dropped.
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let engine = engine.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| {
                            let engine = engine.clone();
                            async move { Ok::<_, std::convert::Infallible>(http::handle(engine, req).await) }
                        });
                        if let Err(e) = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(error = %e, "docker emulator connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "docker emulator accept failed"),
            },
            // Cancel-safe: watch::Receiver::changed.
            _ = shutdown.changed() => break,
            // Cancel-safe: reaps finished connection tasks.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
