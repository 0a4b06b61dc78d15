//! The JSON HTTP API: each route is one [`entraide_node::Request`], answered
//! with the same JSON the command line prints with `--json`. Refusals are
//! `{"error": "<one line>", "code", "fields"}` with 400 (bad input), 409
//! (refused by the node), 401 (no token), 403 (foreign host or origin) or 503
//! (no member reachable): `error` is the command line's English message,
//! `code` a stable name of the refusal (`calendar.overlap`, `lookup.not_found`,
//! see [`entraide_node::NodeError::refusal`]) and `fields` what the message is
//! made of, so that a page words it in its reader's language.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use entraide_net::NetError;
use entraide_net::daemon::DaemonHandle;
use entraide_node::Request;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::WatchStream;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{self, Gate};
use crate::people::{self, Person};
use crate::replies;

/// How long a browser stays logged in, in seconds (a year).
const LOGIN_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The largest library file the interface accepts in one upload.
const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) daemon: DaemonHandle,
    pub(crate) gate: Gate,
}

impl axum::extract::FromRef<State> for Gate {
    fn from_ref(state: &State) -> Gate {
        state.gate.clone()
    }
}

impl State {
    pub(crate) fn new(daemon: DaemonHandle, gate: Gate) -> Self {
        Self { daemon, gate }
    }

    async fn run(&self, request: Request) -> Result<entraide_node::Reply, ApiError> {
        self.daemon.execute(request).await.map_err(ApiError)
    }

    async fn json(&self, request: Request) -> Result<Json<Value>, ApiError> {
        Ok(Json(self.run(request).await?.json))
    }

    /// [`State::json`], and, when a colleague acts (see [`crate::people`]),
    /// a record in this node's own files that they did `what` to the ids
    /// the reply names.
    async fn json_by(
        &self,
        request: Request,
        person: Option<Extension<Person>>,
        what: &'static str,
    ) -> ApiResult {
        let reply = self.run(request).await?;
        if let Some(Extension(person)) = person {
            // `ids` (a series), `heads` (a charter edit: the change it made
            // is among them), or `id`.
            let mut ids: Vec<String> = ["ids", "heads"]
                .iter()
                .filter_map(|k| reply.json[*k].as_array())
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            ids.extend(reply.json["id"].as_str().map(str::to_owned));
            let home = self.gate.home.clone();
            let _ = tokio::task::spawn_blocking(move || people::record(&home, &person, what, &ids))
                .await;
        }
        Ok(Json(reply.json))
    }

    /// Who of this organisation's colleagues did `what`, by id.
    async fn attributions(&self, what: &'static str) -> std::collections::HashMap<String, String> {
        let home = self.gate.home.clone();
        tokio::task::spawn_blocking(move || people::attributions(&home, what))
            .await
            .unwrap_or_default()
    }
}

/// A refusal from the node, as HTTP.
pub(crate) struct ApiError(NetError);

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        Self(e)
    }
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            NetError::Node(e) if e.exit_code() == 2 => StatusCode::BAD_REQUEST,
            NetError::Node(_) => StatusCode::CONFLICT,
            NetError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let (code, fields) = match &self.0 {
            NetError::Node(e) => {
                let r = e.refusal();
                (r.code, r.fields)
            }
            NetError::Unreachable(_) => ("unreachable".to_owned(), Value::Null),
            _ => ("internal".to_owned(), Value::Null),
        };
        let body = json!({ "error": self.0.to_string(), "code": code, "fields": fields });
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn bad_input(message: &str) -> ApiError {
    ApiError(NetError::Node(entraide_node::NodeError::Invalid(
        message.to_owned(),
    )))
}

/// The API's description, generated from the handlers below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "entraide node API",
        description = "The local HTTP API of an entraide node, as its web interface uses it. Every call needs the node's token (`Authorization: Bearer <token>`, the token is in the node's home, file `ui-token`), a `Host` of 127.0.0.1, [::1] or localhost with the interface's port, and no foreign `Origin`. Answers carry the same JSON as the command line's `--json`."
    ),
    paths(
        status,
        members,
        member_approve,
        member_remove,
        member_block,
        member_role,
        device_invite,
        device_remove,
        peers,
        sync_now,
        invite,
        login_link,
        me,
        people_list,
        people_add,
        people_revoke,
        leave,
        charter_show,
        charter_edit,
        charter_history,
        charter_adopted,
        charter_diff,
        values_list,
        values_add,
        values_endorse,
        values_withdraw,
        org_list,
        org_set,
        library_list,
        library_add,
        library_file,
        resources_list,
        resources_add,
        resources_edit,
        resources_withdraw,
        bookings_list,
        book,
        booking_approve,
        booking_decline,
        booking_cancel,
        proposals,
        propose,
        vote,
        decisions,
        decisions_export,
        event_list,
        event_add,
        event_register,
        event_cancel_registration,
        event_close,
        event_open,
        event_attendance,
        group_list,
        group_create,
        group_add,
        group_remove,
        group_leave,
        group_notes,
        group_notes_set,
        ledger,
        fees,
        fund_request,
        loan_offer,
        loan_accept,
        record_payment,
        confirm_payment,
        ledger_export,
        changes
    ),
    components(schemas(
        Person,
        PersonBody,
        CharterEdit,
        DiffBody,
        ValueAdd,
        Reason,
        InviteBody,
        DeviceInviteBody,
        RoleBody,
        ResourceAdd,
        ResourceEdit,
        BookBody,
        EventAdd,
        RegisterBody,
        GroupCreateBody,
        GroupOrgBody,
        NotesBody,
        FundRequestBody,
        LoanOfferBody,
        PaymentBody
    ))
)]
struct ApiDoc;

pub(crate) fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

pub(crate) fn router(state: State) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .route("/members", get(members))
        .route("/members/{org}/approve", post(member_approve))
        .route("/members/{org}/remove", post(member_remove))
        .route("/members/{org}/block", post(member_block))
        .route("/members/{org}/role", post(member_role))
        .route("/devices/invite", post(device_invite))
        .route("/devices/{id}/remove", post(device_remove))
        .route("/peers", get(peers))
        .route("/sync", post(sync_now))
        .route("/invite", post(invite))
        .route("/login-link", post(login_link))
        .route("/me", get(me))
        .route("/people", get(people_list).post(people_add))
        .route("/people/{id}/revoke", post(people_revoke))
        .route("/leave", post(leave))
        .route("/charter", get(charter_show).put(charter_edit))
        .route("/charter/history", get(charter_history))
        .route("/charter/adopted", get(charter_adopted))
        .route("/charter/diff", post(charter_diff))
        .route("/values", get(values_list).post(values_add))
        .route("/values/{id}/endorse", post(values_endorse))
        .route("/values/{id}/withdraw", post(values_withdraw))
        .route("/orgs", get(org_list))
        .route("/orgs/me", axum::routing::put(org_set))
        .route(
            "/library",
            get(library_list)
                .post(library_add)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/library/{id}/file", get(library_file))
        .route("/resources", get(resources_list).post(resources_add))
        .route("/resources/{id}", axum::routing::put(resources_edit))
        .route("/resources/{id}/withdraw", post(resources_withdraw))
        .route("/bookings", get(bookings_list).post(book))
        .route("/bookings/{id}/approve", post(booking_approve))
        .route("/bookings/{id}/decline", post(booking_decline))
        .route("/bookings/{id}/cancel", post(booking_cancel))
        .route("/proposals", get(proposals).post(propose))
        .route("/proposals/{id}/vote", post(vote))
        .route("/decisions", get(decisions))
        .route("/decisions.md", get(decisions_export))
        .route("/events", get(event_list).post(event_add))
        .route("/events/{id}/register", post(event_register))
        .route(
            "/events/{id}/cancel-registration",
            post(event_cancel_registration),
        )
        .route("/events/{id}/close", post(event_close))
        .route("/events/{id}/open", post(event_open))
        .route("/events/{id}/attendance.csv", get(event_attendance))
        .route("/groups", get(group_list).post(group_create))
        .route("/groups/{id}/add", post(group_add))
        .route("/groups/{id}/remove", post(group_remove))
        .route("/groups/{id}/leave", post(group_leave))
        .route("/groups/{id}/notes", get(group_notes).put(group_notes_set))
        .route("/ledger", get(ledger))
        .route("/ledger.csv", get(ledger_export))
        .route("/fees", get(fees))
        .route("/fund/requests", post(fund_request))
        .route("/loans", post(loan_offer))
        .route("/loans/{id}/accept", post(loan_accept))
        .route("/payments", post(record_payment))
        .route("/payments/{id}/confirm", post(confirm_payment))
        .route("/changes", get(changes))
        .route("/openapi.json", get(openapi))
        .fallback(|| async {
            error_response(
                StatusCode::NOT_FOUND,
                "no such API call; see /api/openapi.json",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.gate.clone(),
            auth::require_token,
        ));
    page_routes()
        .route("/feed/{file}", get(feed))
        .nest("/api", api)
        .layer(middleware::from_fn_with_state(
            state.gate.clone(),
            auth::guard,
        ))
        .with_state(state)
}

// ---- static page -------------------------------------------------------

/// The page, its script and style, and the login: the same while a new home
/// is set up (see [`crate::setup`]) and once its node runs.
pub(crate) fn page_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Gate: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/login", get(login))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

#[derive(Deserialize)]
struct LoginQuery {
    code: Option<String>,
}

/// Spends a one-time login code and leaves the token in a cookie only this
/// interface receives.
/// The calendar feed: every booking this organisation sees, as iCalendar,
/// to whoever holds the secret address (`entraide calendar feed`); 404 for
/// any other address, a revoked one included.
async fn feed(AxState(s): AxState<State>, UrlPath(file): UrlPath<String>) -> Response {
    let secret = file.strip_suffix(".ics").unwrap_or_default().to_owned();
    let home = s.gate.home.clone();
    let ok = tokio::task::spawn_blocking(move || auth::feed_secret_ok(&home, &secret))
        .await
        .unwrap_or(false);
    if !ok {
        return error_response(StatusCode::NOT_FOUND, "no such calendar feed");
    }
    match s.run(Request::CalendarExport { resource: None }).await {
        Ok(reply) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            reply.file.unwrap_or_default(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn login(AxState(state): AxState<Gate>, Query(q): Query<LoginQuery>) -> Response {
    let code = q.code.unwrap_or_default();
    let home = state.home.clone();
    let spent = tokio::task::spawn_blocking(move || auth::spend_login(&home, &code))
        .await
        .ok()
        .flatten();
    let Some(who) = spent else {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            include_str!("assets/login-refused.html"),
        )
            .into_response();
    };
    let token = match who {
        auth::LoginFor::Node => state.token.to_string(),
        auth::LoginFor::Person(token) => token,
    };
    // Kept for a year: a person stays logged in on their own computer
    // (deleting `ui-token` from the home and restarting logs everyone out;
    // a colleague is logged out by revoking them).
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LOGIN_MAX_AGE_SECS}",
        auth::cookie_name(state.addr.port()),
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

// ---- this node and its members ----------------------------------------

/// This organisation leaves the alliance (its future bookings cancelled, its
/// resources withdrawn).
#[utoipa::path(post, path = "/api/leave", request_body = Reason, responses((status = 200, body = replies::Left), (status = 400, description = "no reason, or the last member")))]
async fn leave(AxState(s): AxState<State>, Json(r): Json<Reason>) -> ApiResult {
    s.json(Request::Leave { reason: r.reason }).await
}

/// A new one-time login link, for a colleague's browser on this computer
/// (valid once, within 15 minutes).
#[utoipa::path(post, path = "/api/login-link", responses((status = 200, body = replies::LoginLink), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn login_link(AxState(s): AxState<State>) -> Result<Json<Value>, Response> {
    auth::login_url(&s.gate.home)
        .map(|url| Json(json!({ "url": url })))
        .map_err(|e| error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// Who is using this browser: a colleague invited by name, or the node's
/// own login (`{"person": null}`).
#[utoipa::path(get, path = "/api/me", responses((status = 200, body = replies::Me), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn me(person: Option<Extension<Person>>) -> Json<Value> {
    Json(json!({ "person": person.map(|Extension(p)| p.public()) }))
}

/// The colleagues who use this node's interface, revoked ones included.
#[utoipa::path(get, path = "/api/people", responses((status = 200, body = [Person])))]
async fn people_list(AxState(s): AxState<State>) -> Json<Vec<Person>> {
    let home = s.gate.home.clone();
    let list = tokio::task::spawn_blocking(move || people::list(&home))
        .await
        .unwrap_or_default();
    Json(list.iter().map(Person::public).collect())
}

/// A colleague to invite by name.
#[derive(Deserialize, ToSchema)]
struct PersonBody {
    name: String,
}

/// Invites a colleague by name: their one-time login link (valid once,
/// within 15 minutes), after which their browser stays logged in as them.
#[utoipa::path(post, path = "/api/people", request_body = PersonBody, responses((status = 200, body = replies::Invited), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn people_add(
    AxState(s): AxState<State>,
    Json(b): Json<PersonBody>,
) -> Result<Json<Value>, Response> {
    let home = s.gate.home.clone();
    tokio::task::spawn_blocking(move || {
        let (person, token) = people::add(&home, &b.name).map_err(|e| match e {
            people::PeopleError::Name => error_response(StatusCode::BAD_REQUEST, &e.to_string()),
            _ => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        })?;
        let url = auth::login_url_for(&home, Some(&token))
            .map_err(|e| error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
        // The page makes the link from the address its own browser uses
        // (the office network's, for a colleague at another desk).
        let path = url.find("/login").map(|i| url[i..].to_owned());
        Ok(Json(json!({ "person": person, "url": url, "path": path })))
    })
    .await
    .unwrap_or_else(|_| {
        Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the invitation failed",
        ))
    })
}

/// Revokes a colleague: their browser is logged out at once.
#[utoipa::path(post, path = "/api/people/{id}/revoke", params(("id" = String, Path)), responses((status = 200, body = Person)))]
async fn people_revoke(
    AxState(s): AxState<State>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Person>, Response> {
    let home = s.gate.home.clone();
    tokio::task::spawn_blocking(move || people::revoke(&home, &id))
        .await
        .unwrap_or_else(|_| Err(people::PeopleError::Unknown(String::new())))
        .map(Json)
        .map_err(|e| match e {
            people::PeopleError::Unknown(_) => {
                error_response(StatusCode::BAD_REQUEST, &e.to_string())
            }
            _ => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        })
}

/// This device, organisation, alliance, documents, peers and lost bookings.
#[utoipa::path(get, path = "/api/status", responses((status = 200, description = "as `entraide status --json`", body = replies::Status), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn status(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::Status).await
}

/// Member organisations, with pending admissions and what they wait for.
#[utoipa::path(get, path = "/api/members", responses((status = 200, description = "as `entraide member list --json`", body = [replies::Member]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn members(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::MemberList).await
}

/// This organisation approves a pending admission or removal.
#[utoipa::path(post, path = "/api/members/{org}/approve", params(("org" = String, Path, description = "organisation name or id")), responses((status = 200, body = replies::MembershipReply), (status = 400, description = "unknown organisation")))]
async fn member_approve(AxState(s): AxState<State>, UrlPath(org): UrlPath<String>) -> ApiResult {
    s.json(Request::MemberApprove { org }).await
}

/// Why, for removals and declines.
#[derive(Deserialize, ToSchema, Default)]
struct Reason {
    #[serde(default)]
    reason: String,
}

/// This organisation proposes (or votes for) removing a member.
#[utoipa::path(post, path = "/api/members/{org}/remove", params(("org" = String, Path, description = "organisation name or id")), request_body = Reason, responses((status = 200, body = replies::MembershipReply), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn member_remove(
    AxState(s): AxState<State>,
    UrlPath(org): UrlPath<String>,
    body: Option<Json<Reason>>,
) -> ApiResult {
    let reason = body.map(|b| b.0.reason).unwrap_or_default();
    s.json(Request::MemberRemove { org, reason }).await
}

/// Known member devices, connected or not, last sync.
#[utoipa::path(get, path = "/api/peers", responses((status = 200, description = "as `entraide peers --json`", body = [replies::Peer]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn peers(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::Peers).await
}

/// Syncs with every reachable member now.
#[utoipa::path(post, path = "/api/sync", responses((status = 200, description = "as `entraide sync --json`", body = replies::SyncReport), (status = 503, description = "no member reachable", body = replies::Refused)))]
async fn sync_now(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::SyncNow { timeout_secs: 5 }).await
}

/// What a ticket is for.
#[derive(Deserialize, ToSchema)]
struct InviteBody {
    /// member or coordinator.
    #[serde(default = "member")]
    role: String,
    /// 7d, 12h, 30m.
    #[serde(default = "seven_days")]
    expires: String,
}

fn member() -> String {
    "member".into()
}

fn seven_days() -> String {
    "7d".into()
}

/// A single-use invitation ticket for a new organisation, with its QR code
/// (`qr_svg`, an SVG image).
#[utoipa::path(post, path = "/api/invite", request_body = InviteBody, responses((status = 200, description = "`ticket`, `expires`, `role`, `qr_svg`", body = replies::Ticket), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn invite(AxState(s): AxState<State>, Json(body): Json<InviteBody>) -> ApiResult {
    let reply = s
        .run(Request::Invite {
            role: body.role,
            expires: body.expires,
        })
        .await?;
    Ok(Json(with_qr(reply.json)))
}

/// A ticket's reply with its QR code (`qr_svg`): the exact ticket text, so
/// that a scanned code pastes into `entraide join` or the set-up page.
fn with_qr(mut json: Value) -> Value {
    if let Some(ticket) = json["ticket"].as_str() {
        let svg =
            qrcode::QrCode::with_error_correction_level(ticket.as_bytes(), qrcode::EcLevel::L)
                .ok()
                .map(|code| {
                    code.render::<qrcode::render::svg::Color>()
                        .min_dimensions(240, 240)
                        .build()
                });
        json["qr_svg"] = svg.map_or(Value::Null, Value::String);
    }
    json
}

/// How long a device's ticket stays valid.
#[derive(Deserialize, ToSchema)]
struct DeviceInviteBody {
    /// 7d, 12h, 30m (default 1d).
    #[serde(default)]
    expires: Option<String>,
}

/// A ticket for another device of this organisation (a second laptop), with
/// its QR code.
#[utoipa::path(post, path = "/api/devices/invite", request_body = DeviceInviteBody, responses((status = 200, description = "`ticket`, `expires`, `qr_svg`", body = replies::Ticket), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn device_invite(
    AxState(s): AxState<State>,
    Json(body): Json<DeviceInviteBody>,
) -> ApiResult {
    let reply = s
        .run(Request::DeviceInvite {
            expires: body.expires.unwrap_or_else(|| "1d".into()),
        })
        .await?;
    Ok(Json(with_qr(reply.json)))
}

/// Revokes a device (a lost or stolen laptop): this organisation's own, or,
/// for a coordinator, any organisation's.
#[utoipa::path(post, path = "/api/devices/{id}/remove", params(("id" = String, Path, description = "device id or unique prefix")), responses((status = 200, body = replies::MembershipReply), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn device_remove(AxState(s): AxState<State>, UrlPath(device): UrlPath<String>) -> ApiResult {
    s.json(Request::DeviceRemove { device }).await
}

/// An organisation's new role.
#[derive(Deserialize, ToSchema)]
struct RoleBody {
    /// member or coordinator.
    role: String,
}

/// A coordinator sets an organisation's role.
#[utoipa::path(post, path = "/api/members/{org}/role", params(("org" = String, Path, description = "organisation name or id")), request_body = RoleBody, responses((status = 200, body = replies::MembershipReply), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn member_role(
    AxState(s): AxState<State>,
    UrlPath(org): UrlPath<String>,
    Json(r): Json<RoleBody>,
) -> ApiResult {
    s.json(Request::MemberRole { org, role: r.role }).await
}

/// This organisation blocks a pending admission or removal (consensus), with
/// its reason.
#[utoipa::path(post, path = "/api/members/{org}/block", params(("org" = String, Path, description = "organisation name or id")), request_body = Reason, responses((status = 200, body = replies::MembershipReply), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn member_block(
    AxState(s): AxState<State>,
    UrlPath(org): UrlPath<String>,
    Json(r): Json<Reason>,
) -> ApiResult {
    s.json(Request::MemberBlock {
        org,
        reason: r.reason,
    })
    .await
}

// ---- charter ------------------------------------------------------------

/// The charter as this node has it now: `text` and `heads`.
#[utoipa::path(get, path = "/api/charter", responses((status = 200, description = "`text`, `heads`", body = replies::Charter), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn charter_show(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::CharterShow).await
}

/// An edit typed on the copy of the charter at `base`.
#[derive(Deserialize, ToSchema)]
struct CharterEdit {
    /// The heads of the copy the page started from (as `GET /api/charter` gave them).
    base: Vec<String>,
    /// The whole text as the page has it.
    text: String,
}

/// Applies the page's own edit (from `base` to `text`) where those
/// characters are now, keeping edits from others that arrived since;
/// answers the merged `text` and its `heads`.
#[utoipa::path(put, path = "/api/charter", request_body = CharterEdit, responses((status = 200, description = "`changed`, `text`, `heads`", body = replies::Charter), (status = 400, description = "unknown base: reload")))]
async fn charter_edit(
    AxState(s): AxState<State>,
    person: Option<Extension<Person>>,
    Json(body): Json<CharterEdit>,
) -> ApiResult {
    s.json_by(
        Request::CharterEdit {
            base: body.base,
            text: body.text,
        },
        person,
        "charter",
    )
    .await
}

/// Who changed the charter, when, how much.
#[utoipa::path(get, path = "/api/charter/history", responses((status = 200, body = [replies::CharterChange]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn charter_history(AxState(s): AxState<State>) -> ApiResult {
    let Json(mut list) = s.json(Request::CharterHistory).await?;
    attribute(&mut list, "hash", "by", &s.attributions("charter").await);
    Ok(Json(list))
}

/// The adopted charter (the last passed amendment).
#[utoipa::path(get, path = "/api/charter/adopted", responses((status = 200, body = replies::AdoptedCharter), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn charter_adopted(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::CharterAdopted).await
}

// ---- values -------------------------------------------------------------

/// Values and which organisations endorse each.
#[utoipa::path(get, path = "/api/values", responses((status = 200, body = [replies::Value]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn values_list(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::ValuesList).await
}

/// A new value.
#[derive(Deserialize, ToSchema)]
struct ValueAdd {
    name: String,
    #[serde(default)]
    description: String,
}

/// Adds a value.
#[utoipa::path(post, path = "/api/values", request_body = ValueAdd, responses((status = 200, body = replies::Made), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn values_add(AxState(s): AxState<State>, Json(v): Json<ValueAdd>) -> ApiResult {
    s.json(Request::ValuesAdd {
        name: v.name,
        description: v.description,
    })
    .await
}

/// This organisation endorses a value.
#[utoipa::path(post, path = "/api/values/{id}/endorse", params(("id" = String, Path)), responses((status = 200, body = replies::Endorsement), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn values_endorse(AxState(s): AxState<State>, UrlPath(value): UrlPath<String>) -> ApiResult {
    s.json(Request::ValuesEndorse { value }).await
}

/// This organisation withdraws its endorsement of a value.
#[utoipa::path(post, path = "/api/values/{id}/withdraw", params(("id" = String, Path)), responses((status = 200, body = replies::Endorsement), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn values_withdraw(AxState(s): AxState<State>, UrlPath(value): UrlPath<String>) -> ApiResult {
    s.json(Request::ValuesWithdraw { value }).await
}

// ---- profiles -------------------------------------------------------------

/// The member organisations' profiles.
#[utoipa::path(get, path = "/api/orgs", responses((status = 200, description = "as `entraide org list --json`", body = [replies::Profile]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn org_list(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::OrgList {
        offers: None,
        needs: None,
        tag: None,
    })
    .await
}

#[derive(Deserialize, ToSchema)]
struct ProfileBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    offers: Option<Vec<String>>,
    #[serde(default)]
    needs: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Changes this organisation's own profile (the fields given).
#[utoipa::path(put, path = "/api/orgs/me", request_body = ProfileBody, responses((status = 200, body = replies::Profile), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn org_set(AxState(s): AxState<State>, Json(p): Json<ProfileBody>) -> ApiResult {
    s.json(Request::OrgSet {
        description: p.description,
        address: p.address,
        contact: p.contact,
        offers: p.offers,
        needs: p.needs,
        tags: p.tags,
    })
    .await
}

// ---- library ------------------------------------------------------------

/// Filters for the library.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LibraryQuery {
    kind: Option<String>,
    tag: Option<String>,
    search: Option<String>,
}

/// Library entries; `available`: this node holds the file.
#[utoipa::path(get, path = "/api/library", params(LibraryQuery), responses((status = 200, body = [replies::LibraryEntry]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn library_list(AxState(s): AxState<State>, Query(q): Query<LibraryQuery>) -> ApiResult {
    let blank = |o: Option<String>| o.filter(|v| !v.trim().is_empty());
    s.json(Request::LibraryList {
        kind: blank(q.kind),
        tag: blank(q.tag),
        search: blank(q.search),
    })
    .await
}

/// What an upload is.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LibraryAddQuery {
    /// The file's name (only its last component is kept).
    file_name: String,
    title: String,
    #[serde(default)]
    kind: Option<String>,
    /// Comma-separated.
    #[serde(default)]
    tags: Option<String>,
    /// A working group's shelf (name or id).
    #[serde(default)]
    group: Option<String>,
}

/// Adds a file to the library: the body is the file's bytes.
#[utoipa::path(post, path = "/api/library", params(LibraryAddQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = replies::LibraryAdded), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn library_add(
    AxState(s): AxState<State>,
    Query(q): Query<LibraryAddQuery>,
    bytes: Bytes,
) -> ApiResult {
    // The name is a label stored with the entry, never a path here.
    let file_name = q
        .file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if file_name.is_empty() || file_name == "." || file_name == ".." {
        return Err(bad_input(
            "the file has no name; choose a file with a name and try again",
        ));
    }
    let tags = q
        .tags
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    s.json(Request::LibraryAdd {
        file_name,
        bytes: bytes.to_vec(),
        title: q.title,
        kind: q
            .kind
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "other".into()),
        tags,
        group: q.group.filter(|g| !g.is_empty()),
    })
    .await
}

/// Downloads a library file, byte for byte as added.
#[utoipa::path(get, path = "/api/library/{id}/file", params(("id" = String, Path)), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 409, description = "not here yet")))]
async fn library_file(
    AxState(s): AxState<State>,
    UrlPath(entry): UrlPath<String>,
) -> Result<Response, ApiError> {
    let list = s
        .run(Request::LibraryList {
            kind: None,
            tag: None,
            search: None,
        })
        .await?
        .json;
    let reply = s.run(Request::LibraryGet { entry }).await?;
    let id = reply.json["id"].as_str().unwrap_or_default();
    let name = list
        .as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == id))
        .and_then(|e| e["file_name"].as_str())
        .unwrap_or("file");
    Ok(download(reply, "application/octet-stream", name))
}

/// A reply's file as a download named `name`.
fn download(reply: entraide_node::Reply, content_type: &'static str, name: &str) -> Response {
    // Quoted-string safe: no quotes, backslashes or control characters.
    let safe: String = name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() || !c.is_ascii() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{safe}\"");
    let mut response = reply.file.unwrap_or_default().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

// ---- resources and bookings ----------------------------------------------

/// Resources, with each organisation's quota `usage`.
#[utoipa::path(get, path = "/api/resources", responses((status = 200, body = [replies::Resource]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn resources_list(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::ResourceList).await
}

/// A new resource owned by this organisation.
#[derive(Deserialize, ToSchema)]
struct ResourceAdd {
    name: String,
    /// room, vehicle, equipment or other.
    kind: String,
    capacity: Option<u32>,
    location: Option<String>,
    /// 20h/week, 10h/month.
    quota: Option<String>,
    #[serde(default)]
    approval: bool,
    /// Mo-Fr 08:00-18:00.
    hours: Option<String>,
    /// A working group's resource (name or id).
    #[serde(default)]
    group: Option<String>,
}

/// Adds a resource.
#[utoipa::path(post, path = "/api/resources", request_body = ResourceAdd, responses((status = 200, body = replies::Made), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn resources_add(AxState(s): AxState<State>, Json(r): Json<ResourceAdd>) -> ApiResult {
    s.json(Request::ResourceAdd {
        name: r.name,
        kind: r.kind,
        capacity: r.capacity,
        location: r.location,
        quota: r.quota,
        approval: r.approval,
        hours: r.hours,
        group: r.group.filter(|g| !g.is_empty()),
    })
    .await
}

/// What to change of a resource: a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
struct ResourceEdit {
    name: Option<String>,
    /// room, vehicle, equipment or other.
    kind: Option<String>,
    capacity: Option<u32>,
    location: Option<String>,
    /// 20h/week, 10h/month.
    quota: Option<String>,
    approval: Option<bool>,
    /// Mo-Fr 08:00-18:00.
    hours: Option<String>,
    /// Fields to remove: capacity, location, quota, hours.
    #[serde(default)]
    clear: Vec<String>,
}

/// The owner changes its resource.
#[utoipa::path(put, path = "/api/resources/{id}", params(("id" = String, Path, description = "resource id or name")), request_body = ResourceEdit, responses((status = 200, body = replies::Resource), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn resources_edit(
    AxState(s): AxState<State>,
    UrlPath(resource): UrlPath<String>,
    Json(r): Json<ResourceEdit>,
) -> ApiResult {
    s.json(Request::ResourceEdit(entraide_node::ResourceEdit {
        resource,
        name: r.name,
        kind: r.kind,
        capacity: r.capacity,
        location: r.location,
        quota: r.quota,
        hours: r.hours,
        approval: r.approval,
        clear: r.clear,
    }))
    .await
}

/// The owner withdraws its resource: no new booking, future ones declined
/// with the reason.
#[utoipa::path(post, path = "/api/resources/{id}/withdraw", params(("id" = String, Path, description = "resource id or name")), request_body = Reason, responses((status = 200, body = replies::Withdrawn), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn resources_withdraw(
    AxState(s): AxState<State>,
    UrlPath(resource): UrlPath<String>,
    Json(r): Json<Reason>,
) -> ApiResult {
    s.json(Request::ResourceWithdraw {
        resource,
        reason: r.reason,
    })
    .await
}

/// Two versions of the charter to compare.
#[derive(Deserialize, ToSchema)]
struct DiffBody {
    /// draft, adopted or a proposal id.
    from: String,
    /// draft, adopted or a proposal id.
    #[serde(default)]
    to: String,
    /// A text to compare instead of `to` (an amendment being written).
    #[serde(default)]
    text: Option<String>,
}

/// The differences between two versions of the charter, as a unified diff.
#[utoipa::path(post, path = "/api/charter/diff", request_body = DiffBody, responses((status = 200, description = "as `entraide charter diff --json`", body = replies::CharterDiff), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn charter_diff(AxState(s): AxState<State>, Json(d): Json<DiffBody>) -> ApiResult {
    s.json(Request::CharterDiff {
        from: d.from,
        to: d.to,
        text: d.text,
    })
    .await
}

/// Filters for bookings.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BookingsQuery {
    resource: Option<String>,
    org: Option<String>,
    /// Only bookings ending after this time.
    from: Option<String>,
    /// Only bookings starting before this time.
    to: Option<String>,
}

/// Bookings with status, conflicts and suggested free slots.
#[utoipa::path(get, path = "/api/bookings", params(BookingsQuery), responses((status = 200, body = [replies::Booking]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn bookings_list(AxState(s): AxState<State>, Query(q): Query<BookingsQuery>) -> ApiResult {
    let Json(mut list) = s
        .json(Request::Bookings {
            resource: q.resource.filter(|r| !r.is_empty()),
            org: q.org.filter(|o| !o.is_empty()),
            from: q.from.filter(|t| !t.is_empty()),
            to: q.to.filter(|t| !t.is_empty()),
        })
        .await?;
    attribute(&mut list, "id", "by", &s.attributions("booking").await);
    Ok(Json(list))
}

/// Adds `field`: the colleague's name beside each entry of `list` whose
/// `key` they acted on (this node's own records; the alliance sees the
/// organisation only).
fn attribute(
    list: &mut Value,
    key: &str,
    field: &str,
    by: &std::collections::HashMap<String, String>,
) {
    for entry in list.as_array_mut().into_iter().flatten() {
        let name = entry[key].as_str().and_then(|id| by.get(id)).cloned();
        if let (Some(name), Some(obj)) = (name, entry.as_object_mut()) {
            obj.insert(field.to_owned(), Value::String(name));
        }
    }
}

/// A booking.
#[derive(Deserialize, ToSchema)]
struct BookBody {
    /// Resource id, prefix or name.
    resource: String,
    /// YYYY-MM-DDTHH:MM in the node's zone, or RFC 3339.
    from: String,
    to: String,
    #[serde(default)]
    purpose: String,
    /// daily or weekly: a series.
    #[serde(default)]
    repeat: Option<String>,
    /// How many occurrences in the series.
    #[serde(default)]
    count: Option<u32>,
}

/// Books a resource (refused when it overlaps or breaks the quota); a
/// series books every occurrence that is free and lists those skipped.
#[utoipa::path(post, path = "/api/bookings", request_body = BookBody, responses((status = 200, body = replies::Booked), (status = 400, description = "overlap, quota, bad time")))]
async fn book(
    AxState(s): AxState<State>,
    person: Option<Extension<Person>>,
    Json(b): Json<BookBody>,
) -> ApiResult {
    s.json_by(
        Request::Book {
            resource: b.resource,
            from: b.from,
            to: b.to,
            purpose: b.purpose,
            repeat: b.repeat.filter(|r| !r.is_empty()),
            count: b.count,
            until: None,
        },
        person,
        "booking",
    )
    .await
}

/// The owner approves a pending booking.
#[utoipa::path(post, path = "/api/bookings/{id}/approve", params(("id" = String, Path)), responses((status = 200, body = replies::Decided), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn booking_approve(
    AxState(s): AxState<State>,
    UrlPath(booking): UrlPath<String>,
) -> ApiResult {
    s.json(Request::BookingDecide {
        booking,
        approve: true,
        reason: None,
    })
    .await
}

/// The owner declines a pending booking.
#[utoipa::path(post, path = "/api/bookings/{id}/decline", params(("id" = String, Path)), request_body = Reason, responses((status = 200, body = replies::Decided), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn booking_decline(
    AxState(s): AxState<State>,
    UrlPath(booking): UrlPath<String>,
    body: Option<Json<Reason>>,
) -> ApiResult {
    let reason = body.map(|b| b.0.reason).filter(|r| !r.trim().is_empty());
    s.json(Request::BookingDecide {
        booking,
        approve: false,
        reason,
    })
    .await
}

/// Cancels a booking.
#[utoipa::path(post, path = "/api/bookings/{id}/cancel", params(("id" = String, Path)), responses((status = 200, body = replies::Cancelled), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn booking_cancel(
    AxState(s): AxState<State>,
    UrlPath(booking): UrlPath<String>,
    Query(q): Query<CancelQuery>,
) -> ApiResult {
    s.json(Request::Cancel {
        booking,
        series: q.series,
    })
    .await
}

/// Cancelling one booking, or its whole series.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CancelQuery {
    /// Cancel every occurrence of the booking's series not over yet.
    #[serde(default)]
    series: bool,
}

/// Proposals, those awaiting this organisation's vote first.
#[utoipa::path(get, path = "/api/proposals", responses((status = 200, body = [replies::Proposal]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn proposals(AxState(s): AxState<State>) -> ApiResult {
    let Json(mut list) = s.json(Request::Proposals { open: false }).await?;
    attribute(&mut list, "id", "by", &s.attributions("proposal").await);
    attribute(&mut list, "id", "vote_by", &s.attributions("vote").await);
    Ok(Json(list))
}

#[derive(Deserialize, ToSchema)]
struct ProposeBody {
    /// general or charter-amendment (admission and removal come from the
    /// members page).
    kind: String,
    title: String,
    /// The proposal; for a charter amendment, the whole proposed charter.
    #[serde(default)]
    text: String,
    /// consent, consensus or majority (default: the alliance's).
    #[serde(default)]
    process: Option<String>,
    #[serde(default)]
    quorum: Option<u32>,
    /// YYYY-MM-DDTHH:MM in the node's zone, or RFC 3339 (default: in 7 days).
    #[serde(default)]
    deadline: Option<String>,
    /// A working group's proposal (general), decided by its members.
    #[serde(default)]
    group: Option<String>,
}

/// Opens a proposal.
#[utoipa::path(post, path = "/api/proposals", request_body = ProposeBody, responses((status = 200, body = replies::Proposed), (status = 400, description = "bad kind, process or deadline")))]
async fn propose(
    AxState(s): AxState<State>,
    person: Option<Extension<Person>>,
    Json(p): Json<ProposeBody>,
) -> ApiResult {
    s.json_by(
        Request::Propose {
            kind: p.kind,
            title: p.title,
            text: p.text,
            process: p.process.filter(|x| !x.is_empty()),
            quorum: p.quorum,
            deadline: p.deadline.filter(|x| !x.is_empty()),
            org: None,
            group: p.group.filter(|g| !g.is_empty()),
        },
        person,
        "proposal",
    )
    .await
}

#[derive(Deserialize, ToSchema)]
struct VoteBody {
    /// agree, abstain, disagree or block.
    position: String,
    #[serde(default)]
    reason: String,
}

/// This organisation's position on an open proposal (its latest counts).
#[utoipa::path(post, path = "/api/proposals/{id}/vote", params(("id" = String, Path)), request_body = VoteBody, responses((status = 200, body = replies::Proposal), (status = 400, description = "closed, or a block or disagreement without a reason")))]
async fn vote(
    AxState(s): AxState<State>,
    person: Option<Extension<Person>>,
    UrlPath(proposal): UrlPath<String>,
    Json(v): Json<VoteBody>,
) -> ApiResult {
    s.json_by(
        Request::Vote {
            proposal,
            position: v.position,
            reason: v.reason,
        },
        person,
        "vote",
    )
    .await
}

/// The decision log: every closed proposal.
#[utoipa::path(get, path = "/api/decisions", responses((status = 200, description = "as `entraide decisions --json`", body = [replies::Proposal]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn decisions(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::Decisions).await
}

/// The decision log as Markdown, for funders and authorities.
#[utoipa::path(get, path = "/api/decisions.md", responses((status = 200, content_type = "text/markdown", body = String)))]
async fn decisions_export(AxState(s): AxState<State>) -> Result<Response, ApiError> {
    let reply = s.run(Request::DecisionsExport).await?;
    Ok(download(
        reply,
        "text/markdown; charset=utf-8",
        "decisions.md",
    ))
}

// ---- trainings and events ------------------------------------------------

/// Every event with its registrations, confirmed or waiting.
#[utoipa::path(get, path = "/api/events", responses((status = 200, body = [replies::Event]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn event_list(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::EventList).await
}

#[derive(Deserialize, ToSchema)]
struct EventAdd {
    title: String,
    /// YYYY-MM-DDTHH:MM in the node's zone, or RFC 3339.
    from: String,
    to: String,
    seats: i64,
    #[serde(default)]
    per_org: Option<i64>,
    /// A resource to book for it (id, prefix or name).
    #[serde(default)]
    resource: Option<String>,
    /// A working group's event (name or id).
    #[serde(default)]
    group: Option<String>,
}

/// Offers a training or event with seats (booking the resource too, if named).
#[utoipa::path(post, path = "/api/events", request_body = EventAdd, responses((status = 200, body = replies::Event), (status = 400, description = "bad times or seats, the room is taken")))]
async fn event_add(AxState(s): AxState<State>, Json(e): Json<EventAdd>) -> ApiResult {
    s.json(Request::EventAdd {
        title: e.title,
        from: e.from,
        to: e.to,
        seats: e.seats,
        per_org: e.per_org,
        resource: e.resource.filter(|r| !r.is_empty()),
        group: e.group.filter(|g| !g.is_empty()),
    })
    .await
}

#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    seats: i64,
    #[serde(default)]
    names: String,
}

/// Registers this organisation (again: changes its seats).
#[utoipa::path(post, path = "/api/events/{id}/register", params(("id" = String, Path)), request_body = RegisterBody, responses((status = 200, body = replies::Event), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn event_register(
    AxState(s): AxState<State>,
    UrlPath(event): UrlPath<String>,
    Json(r): Json<RegisterBody>,
) -> ApiResult {
    s.json(Request::EventRegister {
        event,
        seats: r.seats,
        names: r.names,
    })
    .await
}

/// Withdraws this organisation's registration.
#[utoipa::path(post, path = "/api/events/{id}/cancel-registration", params(("id" = String, Path)), responses((status = 200, body = replies::Event), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn event_cancel_registration(
    AxState(s): AxState<State>,
    UrlPath(event): UrlPath<String>,
) -> ApiResult {
    s.json(Request::EventCancelRegistration { event }).await
}

/// The organiser closes registrations.
#[utoipa::path(post, path = "/api/events/{id}/close", params(("id" = String, Path)), responses((status = 200, body = replies::Event), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn event_close(AxState(s): AxState<State>, UrlPath(event): UrlPath<String>) -> ApiResult {
    s.json(Request::EventSetOpen { event, open: false }).await
}

/// The organiser opens registrations again.
#[utoipa::path(post, path = "/api/events/{id}/open", params(("id" = String, Path)), responses((status = 200, body = replies::Event), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn event_open(AxState(s): AxState<State>, UrlPath(event): UrlPath<String>) -> ApiResult {
    s.json(Request::EventSetOpen { event, open: true }).await
}

/// The attendance list, as CSV.
#[utoipa::path(get, path = "/api/events/{id}/attendance.csv", params(("id" = String, Path)), responses((status = 200, content_type = "text/csv", body = String)))]
async fn event_attendance(
    AxState(s): AxState<State>,
    UrlPath(event): UrlPath<String>,
) -> Result<Response, ApiError> {
    let reply = s.run(Request::EventAttendance { event }).await?;
    Ok(download(reply, "text/csv; charset=utf-8", "attendance.csv"))
}

// ---- working groups ------------------------------------------------------

/// The alliance's working groups, and whether this organisation belongs to each.
#[utoipa::path(get, path = "/api/groups", responses((status = 200, body = [replies::Group]), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_list(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::GroupList).await
}

#[derive(Deserialize, ToSchema)]
struct GroupCreateBody {
    name: String,
    #[serde(default)]
    description: String,
    /// Its other member organisations (names or ids).
    #[serde(default)]
    orgs: Vec<String>,
}

/// Creates a working group of this organisation and `orgs`.
#[utoipa::path(post, path = "/api/groups", request_body = GroupCreateBody, responses((status = 200, body = replies::Group), (status = 400, description = "a name taken, an organisation that is not active")))]
async fn group_create(AxState(s): AxState<State>, Json(g): Json<GroupCreateBody>) -> ApiResult {
    s.json(Request::GroupCreate {
        name: g.name,
        description: g.description,
        orgs: g.orgs,
    })
    .await
}

#[derive(Deserialize, ToSchema)]
struct GroupOrgBody {
    /// The organisation (name or id).
    org: String,
}

/// Adds an organisation to a group this organisation belongs to.
#[utoipa::path(post, path = "/api/groups/{id}/add", params(("id" = String, Path)), request_body = GroupOrgBody, responses((status = 200, body = replies::Group), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_add(
    AxState(s): AxState<State>,
    UrlPath(group): UrlPath<String>,
    Json(b): Json<GroupOrgBody>,
) -> ApiResult {
    s.json(Request::GroupChange {
        group,
        org: Some(b.org),
        add: true,
    })
    .await
}

/// Removes an organisation from a group this organisation belongs to.
#[utoipa::path(post, path = "/api/groups/{id}/remove", params(("id" = String, Path)), request_body = GroupOrgBody, responses((status = 200, body = replies::Group), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_remove(
    AxState(s): AxState<State>,
    UrlPath(group): UrlPath<String>,
    Json(b): Json<GroupOrgBody>,
) -> ApiResult {
    s.json(Request::GroupChange {
        group,
        org: Some(b.org),
        add: false,
    })
    .await
}

/// This organisation leaves a group.
#[utoipa::path(post, path = "/api/groups/{id}/leave", params(("id" = String, Path)), responses((status = 200, body = replies::Group), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_leave(AxState(s): AxState<State>, UrlPath(group): UrlPath<String>) -> ApiResult {
    s.json(Request::GroupChange {
        group,
        org: None,
        add: false,
    })
    .await
}

/// A group's notes (to its members).
#[utoipa::path(get, path = "/api/groups/{id}/notes", params(("id" = String, Path)), responses((status = 200, body = replies::GroupNotes), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_notes(AxState(s): AxState<State>, UrlPath(group): UrlPath<String>) -> ApiResult {
    s.json(Request::GroupNotes { group }).await
}

#[derive(Deserialize, ToSchema)]
struct NotesBody {
    text: String,
    /// The heads the page's copy started from (as `GET` gave them): only
    /// the page's own edit is applied.
    #[serde(default)]
    base: Vec<String>,
}

/// Makes a group's notes this text (by the smallest edit).
#[utoipa::path(put, path = "/api/groups/{id}/notes", params(("id" = String, Path)), request_body = NotesBody, responses((status = 200, body = replies::GroupNotes), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn group_notes_set(
    AxState(s): AxState<State>,
    UrlPath(group): UrlPath<String>,
    Json(b): Json<NotesBody>,
) -> ApiResult {
    s.json(Request::GroupNotesSet {
        group,
        text: b.text,
        base: b.base,
    })
    .await
}

// ---- the solidarity ledger -----------------------------------------------

/// Which book: the alliance's (none) or a working group's.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BookQuery {
    /// A working group (name or id) this organisation belongs to.
    #[serde(default)]
    group: Option<String>,
}

/// Balances, loans and their schedules, the fund's requests, payments.
#[utoipa::path(get, path = "/api/ledger", params(BookQuery), responses((status = 200, body = replies::Ledger), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn ledger(AxState(s): AxState<State>, Query(q): Query<BookQuery>) -> ApiResult {
    s.json(Request::Ledger {
        group: q.group.filter(|g| !g.is_empty()),
    })
    .await
}

/// Each organisation's fees per year, what it owes and has paid.
#[utoipa::path(get, path = "/api/fees", responses((status = 200, body = replies::Fees), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn fees(AxState(s): AxState<State>) -> ApiResult {
    s.json(Request::Fees).await
}

#[derive(Deserialize, ToSchema)]
struct FundRequestBody {
    /// loan, guarantee, grant or gift.
    kind: String,
    /// Two decimals, like 1500.00.
    amount: String,
    #[serde(default)]
    currency: Option<String>,
    reason: String,
    /// For a loan, like "12 x monthly".
    #[serde(default)]
    repay: Option<String>,
    /// A working group's fund (its members decide).
    #[serde(default)]
    group: Option<String>,
}

/// Asks the support fund: opens a proposal of kind `fund`.
#[utoipa::path(post, path = "/api/fund/requests", request_body = FundRequestBody, responses((status = 200, body = replies::Proposed), (status = 400, description = "bad amount, kind or schedule")))]
async fn fund_request(AxState(s): AxState<State>, Json(f): Json<FundRequestBody>) -> ApiResult {
    s.json(Request::FundRequest {
        kind: f.kind,
        amount: f.amount,
        currency: f.currency.filter(|c| !c.is_empty()),
        reason: f.reason,
        repay: f.repay.filter(|r| !r.is_empty()),
        process: None,
        deadline: None,
        group: f.group.filter(|g| !g.is_empty()),
    })
    .await
}

#[derive(Deserialize, ToSchema)]
struct LoanOfferBody {
    /// The borrowing organisation (name or id).
    org: String,
    amount: String,
    #[serde(default)]
    currency: Option<String>,
    /// Yearly percent (default 0).
    #[serde(default)]
    rate: Option<String>,
    /// Like "4 x quarterly".
    schedule: String,
    #[serde(default)]
    note: String,
    /// In a working group's book.
    #[serde(default)]
    group: Option<String>,
}

/// Offers a loan to another organisation.
#[utoipa::path(post, path = "/api/loans", request_body = LoanOfferBody, responses((status = 200, body = replies::Loan), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn loan_offer(AxState(s): AxState<State>, Json(l): Json<LoanOfferBody>) -> ApiResult {
    s.json(Request::LoanOffer {
        org: l.org,
        amount: l.amount,
        currency: l.currency.filter(|c| !c.is_empty()),
        rate: l
            .rate
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "0".into()),
        schedule: l.schedule,
        note: l.note,
        group: l.group.filter(|g| !g.is_empty()),
    })
    .await
}

/// The borrower accepts a loan offered to it.
#[utoipa::path(post, path = "/api/loans/{id}/accept", params(("id" = String, Path)), responses((status = 200, body = replies::Loan), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn loan_accept(AxState(s): AxState<State>, UrlPath(loan): UrlPath<String>) -> ApiResult {
    s.json(Request::LoanAccept { loan }).await
}

#[derive(Deserialize, ToSchema)]
struct PaymentBody {
    /// Who paid: an organisation (name or id) or `fund`.
    from: String,
    /// `fund` for the fund's receipts (a coordinator); default this organisation.
    #[serde(default)]
    to: Option<String>,
    amount: String,
    #[serde(default)]
    currency: Option<String>,
    /// fee:2027, loan:<id>, fund:<proposal id>, or text.
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    note: String,
    /// In a working group's book.
    #[serde(default)]
    group: Option<String>,
}

/// Records a payment this organisation (or the fund) received.
#[utoipa::path(post, path = "/api/payments", request_body = PaymentBody, responses((status = 200, body = replies::Payment), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn record_payment(AxState(s): AxState<State>, Json(p): Json<PaymentBody>) -> ApiResult {
    s.json(Request::RecordPayment {
        from: p.from,
        to: p.to.filter(|t| !t.is_empty()),
        amount: p.amount,
        currency: p.currency.filter(|c| !c.is_empty()),
        reference: p.reference.filter(|r| !r.is_empty()),
        note: p.note,
        group: p.group.filter(|g| !g.is_empty()),
    })
    .await
}

/// The payer confirms a payment.
#[utoipa::path(post, path = "/api/payments/{id}/confirm", params(("id" = String, Path)), responses((status = 200, body = replies::Payment), (status = 400, description = "bad input", body = replies::Refused), (status = 409, description = "refused by the node", body = replies::Refused)))]
async fn confirm_payment(
    AxState(s): AxState<State>,
    UrlPath(payment): UrlPath<String>,
) -> ApiResult {
    s.json(Request::ConfirmPayment { payment }).await
}

/// Every payment, as CSV for the treasurers.
#[utoipa::path(get, path = "/api/ledger.csv", params(BookQuery), responses((status = 200, content_type = "text/csv", body = String)))]
async fn ledger_export(
    AxState(s): AxState<State>,
    Query(q): Query<BookQuery>,
) -> Result<Response, ApiError> {
    let reply = s
        .run(Request::LedgerExport {
            group: q.group.filter(|g| !g.is_empty()),
        })
        .await?;
    Ok(download(reply, "text/csv; charset=utf-8", "ledger.csv"))
}

// ---- live changes and the description -------------------------------------

/// Server-sent events: a `change` event whenever the node changes (an edit
/// here, or data from a member); the page then reloads what it shows.
#[utoipa::path(get, path = "/api/changes", responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn changes(AxState(s): AxState<State>) -> impl IntoResponse {
    let daemon = s.daemon.clone();
    // The stream ends when the daemon stops, so open pages never hold up
    // the shutdown.
    let changes = WatchStream::new(s.daemon.subscribe())
        .map(|n| {
            Ok::<_, std::convert::Infallible>(Event::default().event("change").data(n.to_string()))
        })
        .take_until(Box::pin(async move { daemon.stopped().await }));
    Sse::new(changes).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}
