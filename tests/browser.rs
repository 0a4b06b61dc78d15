//! A real headless Chromium, driven over WebDriver (chromedriver), for the
//! web interface tests. Debian's `chromium` and `chromium-driver` packages
//! provide both; `tests/run.sh` installs them. Nothing here touches the network
//! beyond loopback: chromedriver listens on 127.0.0.1 and the browser starts
//! with its background services off.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn path_of(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A chromedriver process, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
    profiles: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free loopback port. Fails with how to
    /// install the browser when it is missing (never a silent skip).
    pub fn start() -> Driver {
        let chromium = path_of("ENTRAIDE_CHROMIUM", CHROMIUM);
        let driver = path_of("ENTRAIDE_CHROMEDRIVER", CHROMEDRIVER);
        assert!(
            chromium.exists() && driver.exists(),
            "the web interface tests need Chromium and its WebDriver ({} and {}): \
             install them with `apt-get install -y chromium chromium-driver` \
             (bash tests/run.sh does), or point ENTRAIDE_CHROMIUM and ENTRAIDE_CHROMEDRIVER at them",
            chromium.display(),
            driver.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // In a process group of its own, with the browsers it starts: a
        // test that fails before closing its pages leaves none behind.
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url,
            profiles: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A new browser with its own fresh profile, asking for `language`
    /// (e.g. "fr-BE,fr" or "en-GB,en").
    pub async fn browser(&self, language: &str) -> Client {
        let profile = tempfile::Builder::new()
            .prefix("profile")
            .tempdir_in(self.profiles.path())
            .expect("profile dir")
            .keep();
        let chromium = path_of("ENTRAIDE_CHROMIUM", CHROMIUM);
        let first = language.split(',').next().unwrap_or("en");
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--lang={first}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": { "intl.accept_languages": language },
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        builder.connect(&self.url).await.expect("a browser session")
    }
}

impl Driver {
    /// Runs a Chrome DevTools command in `page` (chromedriver's
    /// `goog/cdp/execute`), e.g. `Emulation.setEmulatedMedia` to see the page
    /// as it prints.
    pub async fn cdp(&self, page: &Client, cmd: &str, params: serde_json::Value) {
        use std::io::{Read, Write};
        let session = page
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session");
        let addr = self.url.trim_start_matches("http://").to_owned();
        let body = serde_json::json!({ "cmd": cmd, "params": params }).to_string();
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(&addr).expect("chromedriver");
            write!(
                stream,
                "POST /session/{session}/goog/cdp/execute HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .expect("send");
            // chromedriver may keep the connection open: read what it
            // sent until it has nothing more for a moment.
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .expect("the DevTools command ran");
        assert!(answer.starts_with("HTTP/1.1 200"), "{cmd}: {answer}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds on the page, for at most `secs` seconds.
pub async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {secs} s");
}

/// The text of the first element matching `css`, if any.
pub async fn text_of(page: &Client, css: &str) -> Option<String> {
    page.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Runs `script` in the page and returns its value.
pub async fn js(page: &Client, script: &str) -> serde_json::Value {
    page.execute(script, vec![]).await.expect("script ran")
}
