//! Who may use the interface: the node's token, one-time login links, and
//! the `Host` and `Origin` checks against DNS rebinding and cross-site
//! requests.
//!
//! Files in the node's home (all 0600, made by the node itself):
//! `ui-token` (64 hex digits, the API token), `ui-address` (where the
//! interface listens while it runs) and `ui-logins/<code>` (one file per
//! login link not used yet; a code is spent on first use and expires after
//! [`LOGIN_VALID`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::WebError;
use crate::api::error_response;

/// What the checks need: the home (login codes), the token and the address
/// the interface listens on.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) home: std::sync::Arc<PathBuf>,
    pub(crate) token: std::sync::Arc<String>,
    pub(crate) addr: SocketAddr,
    /// Host names a TLS reverse proxy serves the interface under (`serve
    /// --ui-host`), accepted in `Host` and `Origin` besides IP literals.
    pub(crate) names: std::sync::Arc<Vec<String>>,
}

impl Gate {
    /// Whether a `Host` header names this interface.
    fn allows_host(&self, host: &str) -> bool {
        host_allowed(host, self.addr.port()) || self.is_name(host)
    }

    /// Whether an `Origin` is this interface's own page.
    fn allows_origin(&self, origin: &str) -> bool {
        if let Some(host) = origin.strip_prefix("http://") {
            return self.allows_host(host);
        }
        origin
            .strip_prefix("https://")
            .is_some_and(|host| self.is_name(host))
    }

    fn is_name(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => name,
            _ => host,
        };
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// How long a login link stays valid.
pub const LOGIN_VALID: Duration = Duration::from_secs(15 * 60);

const TOKEN_FILE: &str = "ui-token";
const ADDRESS_FILE: &str = "ui-address";
const LOGINS_DIR: &str = "ui-logins";
const FEED_FILE: &str = "ui-feed";

pub(crate) fn home_error(action: &'static str, path: &Path, e: impl std::fmt::Display) -> WebError {
    WebError::Home {
        action,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

pub(crate) fn random_hex() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WebError::Home {
        action: "draw randomness for",
        path: PathBuf::from("the token"),
        reason: e.to_string(),
    })?;
    Ok(data_encoding::HEXLOWER.encode(&bytes))
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), WebError> {
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| home_error("write", &tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| home_error("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| home_error("write", path, e))
}

/// The node's API token, made on first use.
pub(crate) fn load_or_create_token(home: &Path) -> Result<String, WebError> {
    let path = home.join(TOKEN_FILE);
    match fs::read_to_string(&path) {
        Ok(t) if t.trim().len() == 64 && t.trim().bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(t.trim().to_owned())
        }
        Ok(_) | Err(_) if !home.is_dir() => Err(home_error("open", home, "no such directory")),
        _ => {
            let token = random_hex()?;
            write_private(&path, token.as_bytes())?;
            Ok(token)
        }
    }
}

pub(crate) fn write_address(home: &Path, addr: SocketAddr) -> Result<(), WebError> {
    write_private(&home.join(ADDRESS_FILE), addr.to_string().as_bytes())
}

pub(crate) fn remove_address(home: &Path) {
    let _ = fs::remove_file(home.join(ADDRESS_FILE));
}

/// Where the interface of the node at `home` listens, if it runs.
pub fn running_address(home: &Path) -> Option<SocketAddr> {
    fs::read_to_string(home.join(ADDRESS_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The address of this organisation's calendar feed: a read-only
/// iCalendar document of every booking it sees, at a secret address that
/// calendar applications subscribe to without logging in. `revoke` makes a
/// new secret (the old address answers 404 from then on). The interface's
/// address is the running one, or the default when it does not run.
pub fn feed_url(home: &Path, revoke: bool) -> Result<String, WebError> {
    let path = home.join(FEED_FILE);
    let existing = fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    let secret = match existing {
        Some(t) if !revoke => t,
        _ => {
            if !home.is_dir() {
                return Err(home_error("open", home, "no such directory"));
            }
            let t = random_hex()?;
            write_private(&path, t.as_bytes())?;
            t
        }
    };
    let addr =
        running_address(home).map_or_else(|| crate::DEFAULT_ADDR.to_owned(), |a| a.to_string());
    Ok(format!("http://{addr}/feed/{secret}.ics"))
}

/// Whether `secret` is the calendar feed's current secret.
pub(crate) fn feed_secret_ok(home: &Path, secret: &str) -> bool {
    fs::read_to_string(home.join(FEED_FILE)).is_ok_and(|t| {
        let t = t.trim();
        t.len() == 64 && bool::from(t.as_bytes().ct_eq(secret.as_bytes()))
    })
}

/// A new one-time login link to the interface running on `home`.
pub fn login_url(home: &Path) -> Result<String, WebError> {
    login_url_for(home, None)
}

/// A one-time login link; with `person_token`, it logs the browser in as
/// that person (see [`crate::people`]) instead of with the node's token.
pub(crate) fn login_url_for(home: &Path, person_token: Option<&str>) -> Result<String, WebError> {
    let addr = running_address(home).ok_or(WebError::NotRunning)?;
    let dir = home.join(LOGINS_DIR);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| home_error("create", &dir, e))?;
    // Forget links nobody used.
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age > LOGIN_VALID);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let code = random_hex()?;
    write_private(
        &dir.join(&code),
        person_token.unwrap_or_default().as_bytes(),
    )?;
    Ok(format!("http://{}/login?code={code}", browser_host(addr)))
}

/// How a browser on this machine should name the interface.
fn browser_host(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Who a spent login code logs in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginFor {
    /// With the node's token (a link from `serve` or `entraide ui-url`).
    Node,
    /// As a person invited from the members page: their token.
    Person(String),
}

/// Spends a login code: whom it logs in if it was valid (it is now gone).
pub(crate) fn spend_login(home: &Path, code: &str) -> Option<LoginFor> {
    // Only our own codes name a file: 64 hex digits, nothing else.
    if code.len() != 64 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let path = home.join(LOGINS_DIR).join(code.to_ascii_lowercase());
    let fresh = fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age <= LOGIN_VALID);
    let person = fs::read_to_string(&path).unwrap_or_default();
    if !(fs::remove_file(&path).is_ok() && fresh) {
        return None;
    }
    Some(if person.is_empty() {
        LoginFor::Node
    } else {
        LoginFor::Person(person)
    })
}

/// The cookie that carries the token for the interface on `port` (one name
/// per port: cookies do not tell ports apart).
pub(crate) fn cookie_name(port: u16) -> String {
    format!("entraide_token_{port}")
}

/// Whether `host` (a `Host` header, or an origin without its scheme) names
/// this interface: `localhost` or an IP literal, on our port. A name that
/// resolves here through someone's DNS (rebinding) is refused.
pub(crate) fn host_allowed(host: &str, port: u16) -> bool {
    if let Some(rest) = host.strip_prefix("localhost:") {
        return rest.parse() == Ok(port);
    }
    host.parse::<SocketAddr>().is_ok_and(|a| a.port() == port)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    error_response(status, message)
}

/// Refuses requests naming another host, or sent by another origin.
pub(crate) async fn guard(AxState(state): AxState<Gate>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !state.allows_host(host) {
        tracing::info!(%host, "refused a request for another host");
        return refuse(
            StatusCode::FORBIDDEN,
            "this interface answers only to 127.0.0.1 or localhost; open the link `entraide ui-url` prints",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| state.allows_origin(o));
        if !ok {
            tracing::info!(origin = ?origin, "refused a request from another origin");
            return refuse(
                StatusCode::FORBIDDEN,
                "requests from other web sites are refused; use the interface's own page",
            );
        }
    }
    next.run(req).await
}

/// The token a request carries: `Authorization: Bearer`, or the cookie.
fn presented_token(headers: &HeaderMap, port: u16) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    let name = cookie_name(port);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Refuses API calls without the node's token.
pub(crate) async fn require_token(
    AxState(state): AxState<Gate>,
    req: Request,
    next: Next,
) -> Response {
    let presented = presented_token(req.headers(), state.addr.port());
    let node = presented
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(state.token.as_bytes())));
    // A person's token: who they are goes with the request, for the acts
    // the interface attributes to them.
    let person = match presented {
        Some(t) if !node => {
            let home = state.home.clone();
            tokio::task::spawn_blocking(move || crate::people::who(&home, &t))
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    let mut req = req;
    if let Some(p) = person.clone() {
        req.extensions_mut().insert(p);
    }
    if !node && person.is_none() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this call needs the node's token; open the link `entraide ui-url` prints, or send Authorization: Bearer <token>",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(host_allowed("127.0.0.1:7878", 7878));
        assert!(host_allowed("localhost:7878", 7878));
        assert!(host_allowed("[::1]:7878", 7878));
        assert!(!host_allowed("127.0.0.1:7879", 7878));
        assert!(!host_allowed("evil.example:7878", 7878));
        assert!(!host_allowed("localhost.evil.example:7878", 7878));
        assert!(!host_allowed("127.0.0.1", 7878));
        assert!(!host_allowed("", 7878));
    }

    #[test]
    fn login_codes_are_spent_once_and_name_no_other_file() {
        let dir = std::env::temp_dir().join(format!("entraide-web-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        write_address(&dir, "127.0.0.1:7878".parse().unwrap()).unwrap();
        let url = login_url(&dir).unwrap();
        let code = url.rsplit('=').next().unwrap();
        assert!(url.starts_with("http://127.0.0.1:7878/login?code="));
        assert_eq!(spend_login(&dir, code), Some(LoginFor::Node));
        assert_eq!(spend_login(&dir, code), None);
        assert_eq!(spend_login(&dir, "../ui-token"), None);
        let token = load_or_create_token(&dir).unwrap();
        assert_eq!(load_or_create_token(&dir).unwrap(), token);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
