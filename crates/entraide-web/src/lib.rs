//! entraide-web: the local web interface of an entraide node.
//!
//! `entraide serve` starts it beside the node: pages for coordinators who
//! never open a terminal, and the JSON HTTP API those pages use (documented
//! at `/api/openapi.json`). It is a thin translator: every call becomes one
//! [`entraide_node::Request`] answered by the running daemon, and nothing
//! here decides anything about bookings, members or documents. It must never
//! be reachable without the node's token (or a colleague's, see `people`),
//! never answer a request naming another host or coming from another origin,
//! never read or write a file the browser names, and never load anything
//! from outside the node (the page's script, style and translations are
//! embedded in the binary). A new home is first served the set-up page
//! (`setup`), whose three steps are the command line's `init`, `alliance
//! create` and `join`.

mod api;
mod auth;
mod people;
mod replies;
mod setup;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use entraide_net::daemon::DaemonHandle;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use auth::{feed_url, login_url, running_address};
pub use setup::SetupServer;

/// The API's OpenAPI 3 description (as served at `/api/openapi.json`),
/// generated from the handlers, for tools that want it without a node.
pub fn openapi_json() -> String {
    api::openapi_json()
}

/// The address the interface listens on unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// Why the interface could not start or give a login link.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address is taken or not ours.
    #[error(
        "the web interface cannot listen on {addr}: {reason}; pass --ui IP:PORT for another address, or --ui off"
    )]
    Bind {
        /// Where it tried.
        addr: SocketAddr,
        /// What the system said.
        reason: String,
        /// Whether the address was in use (another node, another program).
        in_use: bool,
    },
    /// A file of the home could not be read or written.
    #[error("cannot {action} {path}: {reason}; check the home's permissions")]
    Home {
        /// What it tried.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// `ui-url` while no interface runs on this home.
    #[error(
        "the web interface is not running on this home; start `entraide serve` (its interface is on unless --ui off)"
    )]
    NotRunning,
}

/// Where and how the interface listens.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// The address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Host names a TLS reverse proxy serves the interface under, accepted
    /// in `Host` and `Origin` (`serve --ui-host`).
    pub names: Vec<String>,
}

impl WebOptions {
    /// On `addr`, reached by IP literal or `localhost` only.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            names: Vec::new(),
        }
    }
}

/// Binds the interface's address and makes what guards it: the token (made
/// on first use), the address file, and a first login link.
pub(crate) async fn listen(
    home: &Path,
    options: &WebOptions,
) -> Result<(TcpListener, auth::Gate, String), WebError> {
    let addr = options.addr;
    let token = auth::load_or_create_token(home)?;
    let listener = TcpListener::bind(addr).await.map_err(|e| WebError::Bind {
        addr,
        in_use: e.kind() == std::io::ErrorKind::AddrInUse,
        reason: e.to_string(),
    })?;
    let bound = listener.local_addr().map_err(|e| WebError::Bind {
        addr,
        in_use: false,
        reason: e.to_string(),
    })?;
    auth::write_address(home, bound)?;
    let login = login_url(home)?;
    let gate = auth::Gate {
        home: std::sync::Arc::new(home.to_path_buf()),
        token: std::sync::Arc::new(token),
        addr: bound,
        names: std::sync::Arc::new(options.names.clone()),
    };
    Ok((listener, gate, login))
}

/// A running web interface.
pub struct WebServer {
    addr: SocketAddr,
    login: String,
    home: PathBuf,
    task: JoinHandle<()>,
}

impl WebServer {
    /// Starts serving the interface of the node behind `daemon`, whose home
    /// is `home`, on `addr` (port 0 picks a free port). It stops when the
    /// daemon stops.
    pub async fn start(
        daemon: DaemonHandle,
        home: &Path,
        options: &WebOptions,
    ) -> Result<WebServer, WebError> {
        let (listener, gate, login) = listen(home, options).await?;
        let bound = gate.addr;
        let state = api::State::new(daemon.clone(), gate);
        let app = api::router(state);
        let stopped = daemon.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.stopped().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "web interface stopped");
            }
        });
        tracing::info!(addr = %bound, "web interface listening");
        Ok(WebServer {
            addr: bound,
            login,
            home: home.to_path_buf(),
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A one-time login link made at start.
    pub fn login_link(&self) -> &str {
        &self.login
    }

    /// Waits a little for open pages to be told, then stops serving.
    pub async fn stop(self) {
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        auth::remove_address(&self.home);
    }
}
