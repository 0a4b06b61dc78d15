//! Setting up a new home from the browser, for a person who never opens a
//! terminal.
//!
//! `entraide serve` on a home with no organisation yet, or with an
//! organisation in no alliance, serves this instead of the node: the same
//! page, login link and checks (token, `Host`, `Origin`), but an API of
//! three steps only: create the organisation (`POST /api/setup/org`), then
//! found an alliance (`POST /api/setup/found`) or join one with a ticket
//! (`POST /api/setup/join`). `GET /api/status` says which step the home is
//! at (`{"setup": "org" | "alliance" | "pending" | "done"}`; `pending`: joined,
//! the alliance has yet to admit this organisation). Once the home belongs to an
//! alliance, [`SetupServer::finished`] returns and `serve` starts the node
//! and its usual interface on the same address, where the browser, still
//! logged in, finds it. Each step is the command line's own (`init`,
//! `alliance create`, `join`): nothing here decides anything.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State as AxState};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono_tz::Tz;
use entraide_net::NetError;
use entraide_net::oneshot::{JoinOutcome, join_waiting};
use entraide_node::{Home, Node, NodeError, Request, Ticket};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::{ApiError, error_response, page_routes};
use crate::auth::{self, Gate};
use crate::{WebError, WebOptions};

/// How long one join attempt from the page may take (the inviter must be
/// reachable; with `wait`, the admission approved).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The set-up interface, running.
pub struct SetupServer {
    addr: SocketAddr,
    login: String,
    home: PathBuf,
    task: JoinHandle<()>,
    done: watch::Receiver<bool>,
    stop: oneshot::Sender<()>,
}

#[derive(Clone)]
struct SetupState {
    gate: Gate,
    setup: Arc<Setup>,
}

impl FromRef<SetupState> for Gate {
    fn from_ref(state: &SetupState) -> Gate {
        state.gate.clone()
    }
}

struct Setup {
    home: Home,
    zone: Tz,
    /// Set once the home belongs to an alliance.
    done: watch::Sender<bool>,
    /// One step at a time (two tabs clicking at once).
    busy: Mutex<()>,
    /// The ticket of a join that waits for its admission: waiting again
    /// (after the page was reloaded) needs it.
    pending_ticket: std::sync::Mutex<Option<String>>,
}

impl Setup {
    fn stage(&self) -> Result<Value, NodeError> {
        if !self.home.is_initialised() {
            return Ok(json!({"setup": "org"}));
        }
        let mut node = Node::open(&self.home, self.zone)?;
        let status = node.execute(Request::Status)?.json;
        if status["alliance"].is_null() {
            return Ok(json!({"setup": "alliance", "org": status["org"]}));
        }
        // Joined, but the alliance has yet to admit this organisation.
        let members = node.execute(Request::MemberList)?.json;
        let me = members
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["org_id"] == status["org_id"]);
        let stage = match me {
            Some(m) if m["status"] == "active" => "done",
            _ => "pending",
        };
        Ok(json!({"setup": stage, "org": status["org"]}))
    }
}

impl SetupServer {
    /// Serves the set-up page for `home` (made if missing, 0700) on `addr`
    /// (port 0 picks a free port).
    pub async fn start(home: &Path, options: &WebOptions, zone: Tz) -> Result<Self, WebError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .map_err(|e| WebError::Home {
                action: "create",
                path: home.to_path_buf(),
                reason: e.to_string(),
            })?;
        let (listener, gate, login) = crate::listen(home, options).await?;
        let bound = gate.addr;
        let (done_tx, done) = watch::channel(false);
        let state = SetupState {
            gate: gate.clone(),
            setup: Arc::new(Setup {
                home: Home::new(home.to_path_buf()),
                zone,
                done: done_tx,
                busy: Mutex::new(()),
                pending_ticket: std::sync::Mutex::new(None),
            }),
        };
        let api = Router::new()
            .route("/status", get(status))
            .route("/setup/org", post(create_org))
            .route("/setup/found", post(found))
            .route("/setup/join", post(join))
            .fallback(|| async {
                error_response(
                    StatusCode::CONFLICT,
                    "this node is being set up: create its organisation, then found or join an alliance",
                )
            })
            .layer(middleware::from_fn_with_state(
                gate.clone(),
                auth::require_token,
            ));
        let app = page_routes()
            .nest("/api", api)
            .layer(middleware::from_fn_with_state(gate, auth::guard))
            .with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "set-up interface stopped");
            }
        });
        Ok(Self {
            addr: bound,
            login,
            home: home.to_path_buf(),
            task,
            done,
            stop,
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

    /// Returns once the home belongs to an alliance.
    pub async fn finished(&mut self) {
        let _ = self.done.wait_for(|done| *done).await;
    }

    /// Stops serving (answers in flight are finished first).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        auth::remove_address(&self.home);
    }
}

/// Runs a step of the command line's on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::from(NetError::Poisoned))?
        .map_err(|e| ApiError::from(NetError::Node(e)))
}

async fn status(AxState(s): AxState<SetupState>) -> Result<Json<Value>, ApiError> {
    let setup = s.setup.clone();
    Ok(Json(blocking(move || setup.stage()).await?))
}

#[derive(Deserialize)]
struct OrgBody {
    name: String,
}

/// `entraide init --org NAME`.
async fn create_org(
    AxState(s): AxState<SetupState>,
    Json(body): Json<OrgBody>,
) -> Result<Json<Value>, ApiError> {
    let _one = s.setup.busy.lock().await;
    let setup = s.setup.clone();
    let stage = blocking(move || {
        Node::init(&setup.home, &body.name, setup.zone)?;
        setup.stage()
    })
    .await?;
    Ok(Json(stage))
}

#[derive(Deserialize)]
struct FoundBody {
    name: String,
    /// coordinator, majority or consensus (default consensus).
    #[serde(default)]
    admission: Option<String>,
    /// consent, consensus or majority (default consensus).
    #[serde(default)]
    process: Option<String>,
}

/// `entraide alliance create NAME`.
async fn found(
    AxState(s): AxState<SetupState>,
    Json(body): Json<FoundBody>,
) -> Result<Json<Value>, ApiError> {
    let _one = s.setup.busy.lock().await;
    let setup = s.setup.clone();
    let reply = blocking(move || {
        let mut node = Node::open(&setup.home, setup.zone)?;
        node.execute(Request::AllianceCreate {
            name: body.name,
            admission: body.admission.unwrap_or_else(|| "consensus".into()),
            process: body.process.filter(|p| !p.is_empty()),
        })
    })
    .await?;
    s.setup.done.send_replace(true);
    Ok(Json(reply.json))
}

#[derive(Deserialize)]
struct JoinBody {
    /// Empty: the ticket of the join that waits for its admission.
    #[serde(default)]
    ticket: String,
    /// Wait (up to 30 s) for the alliance to approve a pending admission.
    #[serde(default)]
    wait: bool,
}

/// `entraide join TICKET [--wait]`.
async fn join(
    AxState(s): AxState<SetupState>,
    Json(body): Json<JoinBody>,
) -> Result<impl IntoResponse, ApiError> {
    let _one = s.setup.busy.lock().await;
    let remembered = s.setup.pending_ticket.lock().ok().and_then(|t| t.clone());
    let text = match body.ticket.trim() {
        "" => remembered.unwrap_or_default(),
        given => given.to_owned(),
    };
    let ticket = Ticket::decode(&text)
        .map_err(|e| ApiError::from(NetError::Node(NodeError::Invalid(e.to_string()))))?;
    let setup = s.setup.clone();
    let node = blocking(move || Node::open(&setup.home, setup.zone)).await?;
    match join_waiting(node, &ticket, JOIN_TIMEOUT, body.wait).await? {
        JoinOutcome::Joined(name) => {
            s.setup.done.send_replace(true);
            Ok(Json(json!({"alliance": name, "status": "active"})))
        }
        JoinOutcome::Pending(waiting) => {
            if let Ok(mut kept) = s.setup.pending_ticket.lock() {
                *kept = Some(text);
            }
            Ok(Json(json!({
            "alliance": ticket.alliance_name,
            "status": "pending",
            "waiting": waiting,
            })))
        }
    }
}
