//! The local web interface, in a real headless Chromium: two member nodes on
//! loopback, each with its own interface and its own browser, as two
//! coordinators on two machines would use them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use entraide_tests::browser::{Driver, js, text_of, until};
use entraide_tests::{Serve, TestHome, eventually, join};
use fantoccini::{Client, Locator};

/// A day a week from now: in this quota period or the next, which the
/// calendar page shows the usage of.
fn next_week_day() -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(7))
        .format("%Y-%m-%d")
        .to_string()
}

struct Alliance {
    a: TestHome,
    b: TestHome,
    serve_a: Serve,
    serve_b: Serve,
}

/// Two member organisations, both serving their web interface, connected.
fn alliance() -> Alliance {
    let a = TestHome::founded("Maison médicale du Midi");
    let serve_a = Serve::start_with_ui(&a);
    let b = join(&a, "Groupe Terre");
    let serve_b = Serve::start_with_ui(&b);
    eventually(30, "the two nodes connect", || {
        let peers = b.json(&["peers"]);
        peers
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["connected"] == true))
    });
    Alliance {
        a,
        b,
        serve_a,
        serve_b,
    }
}

/// Logs a browser in with the link `serve` printed, then opens `hash`.
async fn open(page: &Client, serve: &Serve, hash: &str) {
    page.goto(serve.login.as_deref().expect("login link"))
        .await
        .expect("login");
    let ui = serve.ui.as_deref().expect("ui");
    let url = page.current_url().await.expect("url");
    assert_eq!(url.as_str(), format!("{ui}/"), "the login link leads home");
    page.goto(&format!("{ui}/{hash}")).await.expect("open page");
}

async fn screenshot(page: &Client, name: &str) {
    let png = page.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    // `ENTRAIDE_SCREENSHOTS=$PWD/docs/screenshots`, from the repository root,
    // keeps them (for the README).
    if let Some(dir) = std::env::var_os("ENTRAIDE_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

/// Clicks `css` as a user would: on whatever element matches it now (a page
/// redrawn by a live update between finding and clicking is found again).
async fn click(page: &Client, css: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = match page.find(Locator::Css(css)).await {
            Ok(el) => el.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => panic!("click {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn type_into(page: &Client, css: &str, text: &str) {
    page.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} not on the page: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Types `text` where the page's caret is, as a keyboard does. WebDriver's
/// "send keys" to an element may first move the caret to the end of the
/// field's text (recent ChromeDriver does), which is not where a person
/// who clicked into the middle of a text types.
async fn type_at_caret(page: &Client, text: &str) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = text
        .chars()
        .fold(KeyActions::new("keyboard".into()), |keys, c| {
            keys.then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c })
        });
    page.perform_actions(keys)
        .await
        .unwrap_or_else(|e| panic!("type {text:?}: {e}"));
}

/// Whether some element matching `css` has text containing `needle`.
async fn shows(page: &Client, css: &str, needle: &str) -> bool {
    let Ok(found) = page.find_all(Locator::Css(css)).await else {
        return false;
    };
    for el in found {
        if el.text().await.is_ok_and(|t| t.contains(needle)) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_booked_by_clicking_appears_on_the_other_nodes_page() {
    let net = alliance();
    let resource = net.a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--capacity",
        "20",
        "--quota",
        "10h/week",
    ]);
    let resource = resource.stdout.trim().to_owned();
    eventually(30, "the resource reaches B", || {
        net.b
            .json(&["resource", "list"])
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });

    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    let page_b = driver.browser("en-GB,en").await;
    open(&page_a, &net.serve_a, "#home").await;
    open(&page_b, &net.serve_b, "#home").await;

    // French by default when the browser asks for it; English otherwise.
    until(20, "A's page in French", || async {
        text_of(&page_a, "nav a[data-page=calendar]")
            .await
            .as_deref()
            == Some("Calendrier")
    })
    .await;
    until(20, "B's page in English", || async {
        text_of(&page_b, "nav a[data-page=calendar]")
            .await
            .as_deref()
            == Some("Calendar")
    })
    .await;
    until(20, "A's home shows it is online", || async {
        shows(&page_a, "#online.online", "En ligne").await
    })
    .await;
    screenshot(&page_a, "home").await;

    let day = next_week_day();
    let slot = format!("td.slot[data-slot='{day}T10:00']");
    let calendar = format!("#calendar/{day}/{resource}");
    page_a
        .goto(&format!(
            "{}/{calendar}",
            net.serve_a.ui.as_deref().unwrap()
        ))
        .await
        .unwrap();
    page_b
        .goto(&format!(
            "{}/{calendar}",
            net.serve_b.ui.as_deref().unwrap()
        ))
        .await
        .unwrap();
    click(&page_a, &slot).await;
    type_into(&page_a, "#purpose", "Assemblée générale").await;
    click(&page_a, "#book-confirm").await;

    until(
        20,
        "A's own booking highlighted on its calendar",
        || async { shows(&page_a, ".booking.own", "Assemblée générale").await },
    )
    .await;
    // B's page was open all along: the booking arrives without a reload.
    until(30, "the booking on B's page", || async {
        shows(&page_b, ".booking", "Assemblée générale").await
    })
    .await;
    assert!(
        !shows(&page_b, ".booking.own", "Assemblée générale").await,
        "on B's page the booking is not B's own"
    );
    let on_b = net.b.json(&["bookings"]);
    let booking = &on_b.as_array().unwrap()[0];
    assert_eq!(booking["purpose"], "Assemblée générale");
    assert_eq!(booking["org"], "Maison médicale du Midi");
    assert!(
        booking["from"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{day}T10:00"))
    );
    until(10, "A's quota usage shows the hour booked", || async {
        shows(&page_a, "#quota", "1.0 h sur 10 h").await
    })
    .await;
    screenshot(&page_a, "calendar").await;

    // A slot already taken cannot be booked again from B's page.
    let taken = page_b.find(Locator::Css(&slot)).await.unwrap();
    taken.click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        page_b.find(Locator::Css("#book-dialog")).await.is_err(),
        "clicking a taken slot opens no booking form"
    );

    // The language switch.
    click(&page_b, "#lang-fr").await;
    until(10, "B's page switched to French", || async {
        text_of(&page_b, "nav a[data-page=calendar]")
            .await
            .as_deref()
            == Some("Calendrier")
    })
    .await;

    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_into_the_charter_on_two_nodes_at_once_keeps_both_edits_on_both_pages() {
    let net = alliance();
    let start =
        "Article 1. Nous partageons ce que nous avons.\nArticle 2. Chaque membre reste autonome.\n";
    entraide_tests::set_charter(&net.a, start);
    eventually(30, "the charter reaches B", || {
        entraide_tests::charter(&net.b) == start
    });

    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#charter").await;
    open(&page_b, &net.serve_b, "#charter").await;
    for page in [&page_a, &page_b] {
        until(20, "the charter on the page", || async {
            js(
                page,
                "return document.getElementById('charter-text')?.value ?? ''",
            )
            .await
                == start
        })
        .await;
    }
    // A types at the very beginning, B at the end of the first article,
    // in bursts, at the same time; neither page reloads.
    js(
        &page_a,
        "const t = document.getElementById('charter-text'); t.focus(); t.setSelectionRange(0, 0);",
    )
    .await;
    let end_of_first = start.find('\n').unwrap();
    js(
        &page_b,
        &format!("const t = document.getElementById('charter-text'); t.focus(); t.setSelectionRange({end_of_first}, {end_of_first});"),
    )
    .await;
    let typing_a = async {
        for burst in ["Préambule : ", "une alliance ", "de voisins. "] {
            type_at_caret(&page_a, burst).await;
            tokio::time::sleep(Duration::from_millis(450)).await;
        }
    };
    let typing_b = async {
        for burst in [" Nous prêtons", " nos salles", " et nos camionnettes."] {
            type_at_caret(&page_b, burst).await;
            tokio::time::sleep(Duration::from_millis(450)).await;
        }
    };
    tokio::join!(typing_a, typing_b);

    let expected = "Préambule : une alliance de voisins. Article 1. Nous partageons ce que nous avons. Nous prêtons nos salles et nos camionnettes.\nArticle 2. Chaque membre reste autonome.\n";
    for (page, who) in [(&page_a, "A"), (&page_b, "B")] {
        until(30, &format!("both edits on {who}'s page"), || async {
            js(page, "return document.getElementById('charter-text').value").await == expected
        })
        .await;
    }
    eventually(30, "both nodes store the merged charter", || {
        entraide_tests::charter(&net.a) == expected && entraide_tests::charter(&net.b) == expected
    });
    screenshot(&page_b, "charter").await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_on_one_node_downloads_from_the_other() {
    let net = alliance();
    // Every byte value, so nothing passes through a text conversion unharmed
    // by chance.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();

    let driver = Driver::start();
    let page_a = driver.browser("en-GB,en").await;
    let page_b = driver.browser("en-GB,en").await;
    open(&page_a, &net.serve_a, "#library").await;
    open(&page_b, &net.serve_b, "#library").await;
    page_a
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#drop"))
        .await
        .unwrap();
    // Drop a file on the drop zone as a user drags it from their desktop.
    let b64 = data_encoding::BASE64.encode(&bytes);
    page_a
        .execute(
            "const bin = atob(arguments[0]); const buf = new Uint8Array(bin.length);
             for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
             const dt = new DataTransfer();
             dt.items.add(new File([buf], 'statuts types.pdf', { type: 'application/pdf' }));
             document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
            vec![serde_json::Value::String(b64)],
        )
        .await
        .unwrap();
    until(10, "the dropped file is chosen", || async {
        shows(&page_a, "#lib-chosen", "statuts types.pdf").await
    })
    .await;
    let title = page_a.find(Locator::Css("#lib-title")).await.unwrap();
    title.clear().await.unwrap();
    title.send_keys("Statuts types").await.unwrap();
    page_a
        .find(Locator::Css("#lib-kind option[value=statute]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    type_into(&page_a, "#lib-tags", "juridique, asbl").await;
    click(&page_a, "#upload").await;
    until(20, "the entry on A's page, held here", || async {
        shows(&page_a, "#library tr", "Statuts types").await
            && shows(&page_a, "#library td.available", "").await
    })
    .await;
    screenshot(&page_a, "library").await;
    // The kind goes back to "other" for the next file; the same file dropped
    // again is refused, in the page's language, and nothing is added.
    assert_eq!(
        js(&page_a, "return document.querySelector('#lib-kind').value").await,
        "other"
    );
    page_a
        .execute(
            "const bin = atob(arguments[0]); const buf = new Uint8Array(bin.length);
             for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
             const dt = new DataTransfer();
             dt.items.add(new File([buf], 'copie.pdf', { type: 'application/pdf' }));
             document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
            vec![serde_json::Value::String(data_encoding::BASE64.encode(&bytes))],
        )
        .await
        .unwrap();
    click(&page_a, "#upload").await;
    until(20, "the duplicate refused", || async {
        shows(
            &page_a,
            "#notice",
            "This file is already in the library: 'Statuts types'",
        )
        .await
    })
    .await;
    assert_eq!(
        net.a.json(&["library", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    until(
        60,
        "the file reaches B and its page offers the download",
        || async {
            page_b
                .find(Locator::Css("#library a.download"))
                .await
                .is_ok()
        },
    )
    .await;
    assert!(
        shows(&page_b, "#library tr", "juridique").await,
        "tags shown on B"
    );
    // Search narrows the list.
    type_into(&page_b, "#lib-search", "budget").await;
    until(10, "a search with no match empties the list", || async {
        !shows(&page_b, "#library tr", "Statuts types").await
    })
    .await;
    // Download through the page's own link, as the browser would.
    let href = js(
        &page_b,
        "return document.querySelector('#library a.download')?.getAttribute('href') ?? null",
    )
    .await;
    assert!(href.is_null(), "the search hid the entry");
    page_b
        .find(Locator::Css("#lib-search"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(&page_b, "#lib-search", "statuts").await;
    until(10, "the search finds it", || async {
        shows(&page_b, "#library tr", "Statuts types").await
    })
    .await;
    let downloaded = page_b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const a = document.querySelector('#library a.download');
             fetch(a.href).then(async (r) => {
               const buf = new Uint8Array(await r.arrayBuffer());
               let s = ''; for (const b of buf) s += String.fromCharCode(b);
               done({ status: r.status, disposition: r.headers.get('content-disposition'), b64: btoa(s) });
             });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(downloaded["status"], 200);
    assert_eq!(
        downloaded["disposition"],
        "attachment; filename=\"statuts types.pdf\""
    );
    let got = data_encoding::BASE64
        .decode(downloaded["b64"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(
        got == bytes,
        "the downloaded file is byte for byte the dropped one"
    );
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_members_pages_endorse_invite_with_a_qr_code_and_remove_after_confirming() {
    let net = alliance();
    net.a.ok(&[
        "values",
        "add",
        "Solidarité",
        "--description",
        "Nous partageons ce que nous avons",
    ]);
    eventually(30, "the value reaches B", || {
        net.b
            .json(&["values", "list"])
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#values").await;
    click(&page_b, "#values button").await;
    eventually(30, "B's endorsement reaches A", || {
        net.a.json(&["values", "list"])[0]["endorsed_by"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
    });
    screenshot(&page_b, "values").await;

    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#members").await;
    click(&page_a, "#invite").await;
    until(20, "a ticket and its QR code", || async {
        shows(&page_a, "#ticket", "entraide1").await
            && page_a.find(Locator::Css("img#qr")).await.is_ok()
    })
    .await;
    let ticket = text_of(&page_a, "#ticket").await.unwrap();
    // The ticket shown works: a third organisation joins with it.
    let c = TestHome::new();
    c.ok(&["init", "--org", "Atelier vélo"]);
    c.ok(&["join", ticket.trim(), "--timeout", "20"]);
    until(20, "the newcomer on A's members page", || async {
        shows(&page_a, "#members", "Atelier vélo").await
    })
    .await;
    screenshot(&page_a, "members").await;

    // Removing asks first; saying no changes nothing.
    click(&page_a, "tr[data-org='Groupe Terre'] button.remove").await;
    click(&page_a, "#remove-dialog button:not(.danger)").await;
    let active = |home: &TestHome| {
        home.json(&["member", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["org"] == "Groupe Terre" && m["status"] == "active")
    };
    assert!(active(&net.a), "no removal without confirming");
    click(&page_a, "tr[data-org='Groupe Terre'] button.remove").await;
    type_into(&page_a, "#remove-reason", "a quitté l'alliance").await;
    click(&page_a, "#remove-yes").await;
    eventually(20, "the removal on A", || !active(&net.a));
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

/// One raw HTTP/1.1 request; the status code and body.
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the interface");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn calls_without_the_token_or_from_a_foreign_host_or_origin_are_refused() {
    let a = TestHome::founded("Maison médicale du Midi");
    let serve = Serve::start_with_ui(&a);
    let ui = serve.ui.clone().unwrap();
    let addr = ui.trim_start_matches("http://").to_owned();
    let token = std::fs::read_to_string(a.path().join("ui-token")).unwrap();
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(a.path().join("ui-token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600, "the token file is private");
    let get = |path: &str, extra: &str| {
        http(
            &addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    let auth = format!("Authorization: Bearer {token}\r\n");

    let (code, body) = get("/api/status", "");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("entraide ui-url"), "says what to do: {body}");
    let (code, _) = get("/api/status", "Authorization: Bearer 00\r\n");
    assert_eq!(code, 401);
    let (code, body) = get("/api/status", &auth);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Maison médicale du Midi"));

    // DNS rebinding: a name that points here, in the Host header.
    let (code, _) = http(
        &addr,
        &format!(
            "GET /api/status HTTP/1.1\r\nHost: evil.example:{}\r\n{auth}Connection: close\r\n\r\n",
            addr.rsplit(':').next().unwrap()
        ),
    );
    assert_eq!(code, 403, "a foreign Host is refused");
    let (code, _) = http(
        &addr,
        "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "even for the page");
    // Cross-site request: another origin, even with the token.
    let value = r#"{"name":"Intrus","description":""}"#;
    let (code, _) = http(
        &addr,
        &format!(
            "POST /api/values HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{value}",
            value.len()
        ),
    );
    assert_eq!(code, 403, "a foreign Origin is refused");
    assert_eq!(
        a.json(&["values", "list"]),
        serde_json::json!([]),
        "and nothing changed"
    );
    let (code, _) = http(
        &addr,
        &format!(
            "POST /api/values HTTP/1.1\r\nHost: {addr}\r\nOrigin: {ui}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{value}",
            value.len()
        ),
    );
    assert_eq!(code, 200, "the interface's own origin is fine");

    // Every route that changes something, old and new, refuses a call
    // without the token (401) or from another origin (403), and nothing
    // changes.
    a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    let resource = a.json(&["resource", "list"])[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let before = (
        a.json(&["resource", "list"]),
        a.json(&["member", "list"]),
        a.json(&["bookings"]),
    );
    let changing = [
        ("POST", "/api/people".to_owned(), r#"{"name":"Intrus"}"#),
        (
            "POST",
            "/api/people/0123456789abcdef/revoke".to_owned(),
            "{}",
        ),
        ("POST", "/api/devices/invite".to_owned(), "{}"),
        ("POST", "/api/devices/00/remove".to_owned(), "{}"),
        (
            "POST",
            "/api/members/Intrus/block".to_owned(),
            r#"{"reason":"x"}"#,
        ),
        (
            "PUT",
            format!("/api/resources/{resource}"),
            r#"{"capacity":1}"#,
        ),
        (
            "POST",
            format!("/api/resources/{resource}/withdraw"),
            r#"{"reason":"x"}"#,
        ),
        (
            "POST",
            "/api/bookings".to_owned(),
            r#"{"resource":"Salle Horta","from":"2030-01-07T09:00","to":"2030-01-07T10:00"}"#,
        ),
        (
            "POST",
            "/api/charter/diff".to_owned(),
            r#"{"from":"adopted","text":"x"}"#,
        ),
        ("POST", "/api/login-link".to_owned(), "{}"),
    ];
    for (method, path, body) in &changing {
        let call = |extra: &str| {
            http(
                &addr,
                &format!(
                    "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
            )
            .0
        };
        assert_eq!(call(""), 401, "{method} {path} without the token");
        assert_eq!(
            call(&format!("Origin: http://evil.example\r\n{auth}")),
            403,
            "{method} {path} from another origin"
        );
    }
    assert_eq!(
        (
            a.json(&["resource", "list"]),
            a.json(&["member", "list"]),
            a.json(&["bookings"]),
        ),
        before,
        "nothing changed"
    );
    assert!(!a.path().join("ui-people.json").exists(), "nobody invited");

    // A login link works once; `ui-url` makes a new one.
    let login = serve.login.clone().unwrap();
    let path = login.trim_start_matches(&ui).to_owned();
    let (code, _) = get(&path, "");
    assert_eq!(code, 303, "first use logs in");
    let (code, body) = get(&path, "");
    assert_eq!(code, 403, "second use is refused");
    assert!(body.contains("entraide ui-url"));
    let fresh = a.ok(&["ui-url"]).stdout.trim().to_owned();
    assert!(fresh.starts_with(&format!("{ui}/login?code=")), "{fresh}");
    let (code, _) = get(fresh.trim_start_matches(&ui), "");
    assert_eq!(code, 303);
    let (code, _) = get("/login?code=../ui-token", "");
    assert_eq!(code, 403);

    // A file name from the browser is a label, never a path.
    let bytes = b"hello";
    let (code, body) = http(
        &addr,
        &format!(
            "POST /api/library?file_name=..%2F..%2Fescape.txt&title=Escape HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\nhello",
            bytes.len()
        ),
    );
    assert_eq!(code, 200, "{body}");
    let list = a.json(&["library", "list"]);
    assert_eq!(list[0]["file_name"], "escape.txt");
    assert!(!a.path().parent().unwrap().join("escape.txt").exists());

    // The API description is served, generated from the code.
    let (code, body) = get("/api/openapi.json", &auth);
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("openapi JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/bookings",
        "/api/charter",
        "/api/library/{id}/file",
        "/api/invite",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    serve.stop();
    assert!(
        a.fails(&["ui-url"], 1).stderr.contains("entraide serve"),
        "ui-url without a running interface says what to do"
    );
}

#[test]
fn a_second_node_on_the_same_default_address_keeps_serving_without_its_interface() {
    // Another program (or node) holds the address asked for explicitly:
    // serve refuses, naming --ui.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let a = TestHome::founded("Maison médicale du Midi");
    let run = a.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-relay",
        "--no-mdns",
        "--ui",
        &taken,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--ui"), "{}", run.stderr);
    let bad = a.fails(&["serve", "--ui", "somewhere"], 2);
    assert!(bad.stderr.contains("--ui"), "{}", bad.stderr);

    // The default address taken (a second node on this laptop): the node
    // serves the network anyway and says how to get an interface.
    let _default = std::net::TcpListener::bind("127.0.0.1:7878");
    let serve = Serve::spawn(&mut a.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-relay",
        "--no-mdns",
    ]));
    assert!(serve.ui.is_none());
    assert!(
        serve.early.iter().any(|l| l
            .starts_with("warning: the web interface cannot listen on 127.0.0.1:7878")
            && l.contains("--ui")),
        "{:?}",
        serve.early
    );
    assert!(a.json(&["status"])["org"] == "Maison médicale du Midi");
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_approves_on_its_page_and_a_lost_booking_is_rebooked_from_a_suggestion() {
    let Alliance {
        a,
        b,
        serve_a,
        serve_b,
    } = alliance();
    let day = next_week_day();
    let van = a.ok(&[
        "resource",
        "add",
        "Camionnette",
        "--kind",
        "vehicle",
        "--approval",
    ]);
    let van = van.stdout.trim().to_owned();
    let room = a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    let room = room.stdout.trim().to_owned();
    eventually(30, "the resources reach B", || {
        b.json(&["resource", "list"])
            .as_array()
            .is_some_and(|l| l.len() == 2)
    });
    let from = format!("{day}T09:00");
    let to = format!("{day}T12:00");
    b.ok(&[
        "book",
        "Camionnette",
        "--from",
        &from,
        "--to",
        &to,
        "--purpose",
        "Déménagement",
    ]);

    // A, the owner, sees what waits for it and approves on its calendar.
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &serve_a, "#home").await;
    until(30, "the pending booking on A's home page", || async {
        shows(
            &page_a,
            "#attention",
            "Réservation à approuver : Camionnette",
        )
        .await
    })
    .await;
    page_a
        .goto(&format!(
            "{}/#calendar/{day}/{van}",
            serve_a.ui.as_deref().unwrap()
        ))
        .await
        .unwrap();
    click(&page_a, ".booking.pending button.approve").await;
    eventually(30, "B sees its booking approved", || {
        b.json(&["bookings", "--resource", "Camionnette"])[0]["status"] == "confirmed"
    });

    // Apart, both organisations book the same hours of the room; A first.
    serve_b.stop();
    page_a
        .goto(&format!("{}/#home", serve_a.ui.as_deref().unwrap()))
        .await
        .unwrap();
    until(30, "A's page says it is offline once B is gone", || async {
        shows(&page_a, "#online.offline", "Hors ligne").await
    })
    .await;
    let slot = [
        "--from".to_owned(),
        format!("{day}T14:00"),
        "--to".to_owned(),
        format!("{day}T16:00"),
    ];
    let slot: Vec<&str> = slot.iter().map(String::as_str).collect();
    let mut args = vec!["book", "Salle Horta", "--purpose", "Formation"];
    args.extend(&slot);
    a.ok(&args);
    let mut args = vec!["book", "Salle Horta", "--purpose", "Atelier"];
    args.extend(&slot);
    b.ok(&args);
    let serve_b = Serve::start_with_ui(&b);
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &serve_b, "#home").await;
    until(60, "B's home page shows the booking it lost", || async {
        shows(&page_b, "#attention", "Réservation perdue : Salle Horta").await
    })
    .await;
    page_b
        .goto(&format!(
            "{}/#calendar/{day}/{room}",
            serve_b.ui.as_deref().unwrap()
        ))
        .await
        .unwrap();
    until(20, "the conflict with suggested free slots", || async {
        shows(&page_b, "#conflicts", "Atelier").await
            && page_b
                .find(Locator::Css("#conflicts button.suggestion"))
                .await
                .is_ok()
    })
    .await;
    screenshot(&page_b, "conflict").await;
    let suggestion = text_of(&page_b, "#conflicts button.suggestion")
        .await
        .unwrap();
    click(&page_b, "#conflicts button.suggestion").await;
    eventually(
        30,
        "B's lost booking is replaced by one at the suggested time",
        || {
            let mine: Vec<serde_json::Value> = b
                .json(&[
                    "bookings",
                    "--resource",
                    "Salle Horta",
                    "--org",
                    "Groupe Terre",
                ])
                .as_array()
                .unwrap()
                .clone();
            let kept = mine
                .iter()
                .filter(|b| b["status"] == "confirmed" && b["purpose"] == "Atelier")
                .count();
            let lost = mine.iter().filter(|b| b["status"] == "conflict").count();
            kept == 1 && lost == 0
        },
    );
    let rebooked = b.json(&[
        "bookings",
        "--resource",
        "Salle Horta",
        "--org",
        "Groupe Terre",
    ]);
    let rebooked = rebooked
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["status"] == "confirmed")
        .unwrap()
        .clone();
    // Shown as a French reader reads it, in the node's zone: "sam. 12 déc., 12:00".
    let from = rebooked["from"].as_str().unwrap();
    let (day_of_month, hour) = (from[8..10].trim_start_matches('0'), &from[11..16]);
    assert!(
        suggestion.contains(&format!(" {day_of_month} ")) && suggestion.contains(hour),
        "booked at the suggestion clicked: {suggestion} vs {rebooked}"
    );
    until(20, "the conflict list is gone from B's page", || async {
        page_b.find(Locator::Css("#conflicts")).await.is_err()
    })
    .await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    serve_b.stop();
    serve_a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_admission_is_approved_from_the_members_page() {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Maison médicale du Midi"]);
    a.ok(&[
        "alliance",
        "create",
        "Alliance Test",
        "--admission",
        "consensus",
    ]);
    let serve_a = Serve::start_with_ui(&a);
    let b = join(&a, "Groupe Terre");
    let serve_b = Serve::start_with_ui(&b);
    // C asks; A (the inviter) approves by inviting; B's approval is missing.
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let c = TestHome::new();
    c.ok(&["init", "--org", "Atelier vélo"]);
    assert_eq!(c.json(&["join", &ticket])["status"], "pending");

    let driver = Driver::start();
    let page_b = driver.browser("en-GB,en").await;
    open(&page_b, &serve_b, "#home").await;
    until(30, "the waiting admission on B's home page", || async {
        shows(&page_b, "#attention", "Admission waiting: Atelier vélo").await
    })
    .await;
    page_b
        .goto(&format!("{}/#members", serve_b.ui.as_deref().unwrap()))
        .await
        .unwrap();
    click(&page_b, "tr[data-org='Atelier vélo'] button.approve").await;
    let status_on = |home: &TestHome| {
        home.json(&["member", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["org"] == "Atelier vélo")
            .map(|m| m["status"].clone())
    };
    eventually(30, "A admits C once B approved", || {
        status_on(&a) == Some(serde_json::json!("active"))
    });
    until(20, "B's page shows C active", || async {
        shows(&page_b, "tr[data-org='Atelier vélo']", "active").await
            && page_b
                .find(Locator::Css("tr[data-org='Atelier vélo'] button.approve"))
                .await
                .is_err()
    })
    .await;
    page_b.close().await.unwrap();
    serve_a.stop();
    serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_registers_for_a_training_from_its_page_and_the_organiser_closes_it() {
    let net = alliance();
    let day = next_week_day();
    let id = net.a.json(&[
        "event",
        "add",
        "Formation RGPD",
        "--from",
        &format!("{day}T09:00"),
        "--to",
        &format!("{day}T12:00"),
        "--seats",
        "3",
        "--per-org",
        "2",
    ])["id"]
        .as_str()
        .expect("the event's id")
        .to_owned();
    eventually(30, "the training reaches B", || {
        net.b
            .json(&["event", "list"])
            .as_array()
            .is_some_and(|l| l.len() == 1)
    });
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#events").await;
    let card = format!("div[data-event='{id}']");
    until(20, "the training on B's page", || async {
        shows(&page_b, &card, "Formation RGPD").await
            && shows(&page_b, &card, "0 place(s) confirmée(s) sur 3").await
    })
    .await;
    // Two seats, with the attendees' names.
    let seats = page_b
        .find(Locator::Css(&format!("{card} input.ev-seats")))
        .await
        .expect("the seats field");
    seats.clear().await.expect("clear");
    seats.send_keys("2").await.expect("type seats");
    type_into(&page_b, &format!("{card} input.ev-names"), "Ana, Bo").await;
    click(&page_b, &format!("{card} button.register")).await;
    let registered = |home: &TestHome| {
        home.json(&["event", "list"])[0]["registrations"]
            .as_array()
            .is_some_and(|r| {
                r.iter().any(|r| {
                    r["org"] == "Groupe Terre"
                        && r["seats"] == 2
                        && r["status"] == "confirmed"
                        && r["names"] == "Ana, Bo"
                })
            })
    };
    eventually(30, "B's registration reaches A", || registered(&net.a));
    until(20, "B's page shows its confirmed registration", || async {
        shows(
            &page_b,
            &format!("{card} li.confirmed"),
            "Groupe Terre · 2 · confirmée",
        )
        .await
    })
    .await;
    screenshot(&page_b, "events").await;
    // Only the organiser's page offers to close registrations.
    assert!(
        page_b
            .find(Locator::Css(&format!("{card} button.close-registrations")))
            .await
            .is_err(),
        "B does not organise the training"
    );
    let page_a = driver.browser("en-GB,en").await;
    open(&page_a, &net.serve_a, "#events").await;
    click(&page_a, &format!("{card} button.close-registrations")).await;
    eventually(30, "the close reaches B", || {
        net.b.json(&["event", "list"])[0]["closed"] == true
    });
    until(20, "B's page no longer offers to register", || async {
        shows(&page_b, &card, "Inscriptions closes").await
            && page_b
                .find(Locator::Css(&format!("{card} button.register")))
                .await
                .is_err()
    })
    .await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_saved_on_the_members_page_shows_on_the_other_nodes_page() {
    let net = alliance();
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#members").await;
    type_into(
        &page_a,
        "#profile-description",
        "Soins de première ligne à Forest",
    )
    .await;
    type_into(&page_a, "#profile-offers", "salle de réunion, comptabilité").await;
    click(&page_a, "#profile-save").await;
    eventually(30, "A's profile reaches B", || {
        let p = net.b.json(&["org", "show", "Maison médicale du Midi"]);
        p["description"] == "Soins de première ligne à Forest"
            && p["offers"] == serde_json::json!(["salle de réunion", "comptabilité"])
    });
    let page_b = driver.browser("en-GB,en").await;
    open(&page_b, &net.serve_b, "#members").await;
    until(20, "A's profile on B's members page", || async {
        shows(
            &page_b,
            "tr[data-org='Maison médicale du Midi'] .profile",
            "offers: salle de réunion, comptabilité",
        )
        .await
    })
    .await;
    // B's own values page offers to withdraw what it endorsed.
    net.a.ok(&["values", "add", "Solidarité"]);
    eventually(30, "the value reaches B", || {
        net.b
            .json(&["values", "list"])
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let ui = net.serve_b.ui.as_deref().expect("ui");
    page_b
        .goto(&format!("{ui}/#values"))
        .await
        .expect("the values page");
    click(&page_b, "#values button.endorse").await;
    eventually(30, "B's endorsement reaches A", || {
        net.a.json(&["values", "list"])[0]["endorsed_by"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
    });
    click(&page_b, "#values button.withdraw").await;
    eventually(30, "B's withdrawal reaches A", || {
        net.a.json(&["values", "list"])[0]["endorsed_by"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    });
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_opened_on_one_page_is_voted_on_the_other_and_a_block_needs_a_reason() {
    let net = alliance();
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#proposals").await;
    type_into(&page_a, "#prop-title", "Acheter un vidéoprojecteur").await;
    type_into(&page_a, "#prop-text", "300 EUR, partagé entre tous").await;
    page_a
        .find(Locator::Css("#prop-process option[value='consent']"))
        .await
        .expect("the consent option")
        .click()
        .await
        .expect("pick consent");
    click(&page_a, "#propose").await;
    let proposals = |home: &TestHome| home.json(&["proposals"]);
    eventually(30, "the proposal reaches B", || {
        proposals(&net.b)[0]["title"] == "Acheter un vidéoprojecteur"
            && proposals(&net.b)[0]["process"] == "consent"
    });
    let id = proposals(&net.b)[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let page_b = driver.browser("en-GB,en").await;
    open(&page_b, &net.serve_b, "#proposals").await;
    let card = format!("div[data-proposal='{id}']");
    // A block without a reason is refused, and the page says so.
    click(&page_b, &format!("{card} button.vote.block")).await;
    until(20, "the refusal on B's page", || async {
        shows(&page_b, "#notice", "reason").await
    })
    .await;
    assert_eq!(
        proposals(&net.b)[0]["votes"],
        serde_json::json!([]),
        "a refused vote changes nothing"
    );
    type_into(
        &page_b,
        &format!("{card} input.vote-reason"),
        "pas dans le budget",
    )
    .await;
    click(&page_b, &format!("{card} button.vote.block")).await;
    eventually(30, "B's block, with its reason, reaches A", || {
        proposals(&net.a)[0]["votes"].as_array().is_some_and(|v| {
            v.iter().any(|v| {
                v["org"] == "Groupe Terre"
                    && v["position"] == "block"
                    && v["reason"] == "pas dans le budget"
            })
        })
    });
    until(20, "A's page shows B's block", || async {
        shows(
            &page_a,
            &format!("{card} .votes li.block"),
            "pas dans le budget",
        )
        .await
    })
    .await;
    screenshot(&page_a, "proposals").await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_is_shared_from_the_calendar_and_a_colleague_logs_in_for_a_year_with_a_link() {
    let net = alliance();
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#calendar").await;
    // No resource yet: the page says so and offers to share one.
    until(20, "the empty calendar offers a form", || async {
        page_b.find(Locator::Css("#resource-add")).await.is_ok()
    })
    .await;
    // Open at once on an empty calendar.
    type_into(&page_b, "#res-name", "Camionnette").await;
    page_b
        .find(Locator::Css("#res-kind option[value='vehicle']"))
        .await
        .expect("the vehicle option")
        .click()
        .await
        .expect("pick vehicle");
    click(&page_b, "#res-approval").await;
    click(&page_b, "#res-save").await;
    eventually(30, "B's van reaches A, needing approval", || {
        net.a
            .json(&["resource", "list"])
            .as_array()
            .is_some_and(|l| {
                l.iter().any(|r| {
                    r["name"] == "Camionnette" && r["kind"] == "vehicle" && r["approval"] == true
                })
            })
    });
    // B is a plain member: its members page offers no removal.
    let ui_b = net.serve_b.ui.as_deref().expect("ui");
    page_b
        .goto(&format!("{ui_b}/#members"))
        .await
        .expect("members page");
    until(20, "B's members page", || async {
        shows(&page_b, "#members", "Maison médicale du Midi").await
    })
    .await;
    assert!(
        page_b.find(Locator::Css("button.remove")).await.is_err(),
        "no removal button for a plain member"
    );
    // The login cookie outlives the browser session.
    let cookies = page_b.get_all_cookies().await.expect("cookies");
    assert!(
        cookies
            .iter()
            .any(|c| c.expires().is_some() || c.max_age().is_some()),
        "a lasting login cookie: {cookies:?}"
    );
    // A colleague's browser logs in with a link made on this page.
    click(&page_b, "#login-link").await;
    until(20, "a login link", || async {
        shows(&page_b, "#login-url", "/login?code=").await
    })
    .await;
    let link = text_of(&page_b, "#login-url").await.expect("the link");
    let colleague = driver.browser("fr-BE,fr").await;
    colleague.goto(link.trim()).await.expect("open the link");
    until(20, "the colleague is logged in", || async {
        shows(&colleague, "#org-name", "Groupe Terre").await
    })
    .await;
    colleague.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_from_the_members_page_says_what_will_happen_first() {
    let net = alliance();
    net.b
        .ok(&["resource", "add", "Camionnette", "--kind", "vehicle"]);
    eventually(30, "B's van reaches A", || {
        net.a.json(&["resource", "list"]).as_array().map(Vec::len) == Some(1)
    });
    let day = next_week_day();
    net.a.ok(&[
        "book",
        "Camionnette",
        "--from",
        &format!("{day}T10:00"),
        "--to",
        &format!("{day}T12:00"),
    ]);
    eventually(30, "A's booking of the van reaches B", || {
        net.b.json(&["bookings"]).as_array().map(Vec::len) == Some(1)
    });
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#members").await;
    click(&page_b, "#leave").await;
    until(20, "the dialog says what will happen", || async {
        shows(&page_b, "#leave-what", "0 réservation(s) à venir").await
            && shows(&page_b, "#leave-what", "1 ressource(s)").await
    })
    .await;
    // Saying no changes nothing.
    click(&page_b, "#leave-dialog button:not(.danger)").await;
    let status = |home: &TestHome| {
        home.json(&["member", "list"])
            .as_array()
            .and_then(|l| l.iter().find(|m| m["org"] == "Groupe Terre").cloned())
            .map(|m| m["status"].clone())
    };
    assert_eq!(status(&net.b), Some(serde_json::json!("active")));
    click(&page_b, "#leave").await;
    type_into(&page_b, "#leave-reason", "fusion avec une autre asbl").await;
    click(&page_b, "#leave-yes").await;
    eventually(30, "B's departure reaches A, and its van goes", || {
        status(&net.a) == Some(serde_json::json!("removed"))
            && net.a.json(&["resource", "list"]).as_array().map(Vec::len) == Some(0)
            && net.a.json(&["bookings"])[0]["declined"] == true
    });
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_loan_is_asked_decided_and_repaid_from_the_money_pages() {
    let net = alliance();
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#ledger").await;
    // B asks the support fund from its page.
    type_into(&page_b, "#fund-amount", "1500.00").await;
    type_into(&page_b, "#fund-reason", "Chaudière").await;
    click(&page_b, "#fund-ask").await;
    let request = |home: &TestHome| home.json(&["ledger"])["fund"]["requests"][0].clone();
    eventually(30, "B's request reaches A", || {
        request(&net.a)["amount"] == "1500.00"
    });
    let proposal = request(&net.a)["proposal"]
        .as_str()
        .expect("the request's proposal")
        .to_owned();
    // Both organisations agree (the Decisions page is tested elsewhere).
    for home in [&net.a, &net.b] {
        home.ok(&["vote", &proposal, "agree"]);
    }
    eventually(30, "the request passes on B", || {
        request(&net.b)["status"] == "passed"
    });
    let card = format!("div.fund-request[data-proposal='{proposal}']");
    until(
        20,
        "B's page shows the schedule of 12 installments",
        || async {
            let rows = page_b
                .find_all(Locator::Css(&format!("{card} table.schedule tr.open")))
                .await
                .map(|r| r.len())
                .unwrap_or(0);
            rows == 13 && shows(&page_b, &card, "Adoptée").await
        },
    )
    .await;
    // A, a coordinator, records B's first repayment to the fund on its page.
    let page_a = driver.browser("en-GB,en").await;
    open(&page_a, &net.serve_a, "#ledger").await;
    until(20, "A's page offers the fund as receiver", || async {
        page_a
            .find(Locator::Css("#pay-to option[value='fund']"))
            .await
            .is_ok()
    })
    .await;
    page_a
        .find(Locator::Css("#pay-from option[value]:not([value='fund'])"))
        .await
        .expect("B in the payer list")
        .click()
        .await
        .expect("choose B");
    click(&page_a, "#pay-to option[value='fund']").await;
    click(
        &page_a,
        &format!("#pay-for option[value='fund:{proposal}']"),
    )
    .await;
    type_into(&page_a, "#pay-amount", "125.00").await;
    click(&page_a, "#pay-record").await;
    eventually(30, "the repayment reaches B", || {
        net.b.json(&["ledger"])["payments"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["amount"] == "125.00"))
    });
    // B confirms it paid.
    click(&page_b, "#payments button.confirm-payment").await;
    eventually(30, "B's confirmation reaches A", || {
        net.a.json(&["ledger"])["payments"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["confirmed"] == true))
    });
    until(20, "B's page shows the fund's balance", || async {
        shows(
            &page_b,
            "#balances tr[data-party='fund'] td.balance",
            "125.00 EUR",
        )
        .await
    })
    .await;
    screenshot(&page_b, "ledger").await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_created_on_one_page_and_its_notes_and_shelf_filled_on_the_other() {
    let net = alliance();
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#groups").await;
    type_into(&page_a, "#grp-name", "Comptables").await;
    type_into(&page_a, "#grp-desc", "Les trésorier·es").await;
    click(&page_a, "#grp-orgs input[type=checkbox]").await;
    click(&page_a, "#grp-create").await;
    let group = |home: &TestHome| home.json(&["group", "list"])[0].clone();
    eventually(30, "the group reaches B with both members", || {
        group(&net.b)["orgs"] == serde_json::json!(["Groupe Terre", "Maison médicale du Midi"])
    });
    let id = group(&net.b)["id"].as_str().expect("id").to_owned();
    let card = format!("div.group[data-group='{id}']");
    let page_b = driver.browser("en-GB,en").await;
    open(&page_b, &net.serve_b, "#groups").await;
    until(20, "B's page shows the group it belongs to", || async {
        shows(&page_b, &card, "Your organisation belongs to it").await
    })
    .await;
    type_into(
        &page_b,
        &format!("{card} textarea.grp-notes"),
        "Clôture des comptes le 15",
    )
    .await;
    click(&page_b, &format!("{card} button.grp-save")).await;
    eventually(30, "B's notes reach A", || {
        net.a.json(&["group", "notes", "Comptables"])["text"] == "Clôture des comptes le 15"
    });
    until(20, "A's page shows B's notes", || async {
        page_a
            .find(Locator::Css(&format!("{card} textarea.grp-notes")))
            .await
            .ok()
            .is_some()
            && js(
                &page_a,
                &format!("return document.querySelector(\"{card} textarea.grp-notes\").value"),
            )
            .await
            .as_str()
                == Some("Clôture des comptes le 15")
    })
    .await;
    // B puts a file on the group's shelf from its page.
    page_b
        .execute(
            "const input = document.querySelector(arguments[0]);
             const dt = new DataTransfer();
             dt.items.add(new File(['Procès-verbal'], 'pv-assemblee.txt', { type: 'text/plain' }));
             input.files = dt.files;",
            vec![serde_json::Value::String(format!("{card} input.grp-file"))],
        )
        .await
        .unwrap();
    click(&page_b, &format!("{card} button.grp-upload")).await;
    eventually(30, "the file reaches A, on the group's shelf", || {
        net.a
            .json(&["library", "list"])
            .as_array()
            .is_some_and(|l| {
                l.iter().any(|e| {
                    e["title"] == "pv-assemblee"
                        && e["group"] == "Comptables"
                        && e["available"] == true
                })
            })
    });
    until(20, "A's page lists it on the group's shelf", || async {
        shows(&page_a, &format!("{card} ul.grp-library"), "pv-assemblee").await
    })
    .await;
    screenshot(&page_a, "groups").await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[test]
fn the_calendar_feed_shows_a_synced_booking_and_a_revoked_address_answers_404() {
    let a = TestHome::founded("Maison médicale du Midi");
    let serve_a = Serve::start_with_ui(&a);
    let b = join(&a, "Groupe Terre");
    let _serve_b = Serve::start(&b);
    a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    let feed = a.json(&["calendar", "feed"])["url"]
        .as_str()
        .expect("the feed's address")
        .to_owned();
    let ui = serve_a.ui.clone().expect("ui");
    assert!(feed.starts_with(&format!("{ui}/feed/")), "{feed} vs {ui}");
    // Asked twice, the same address.
    assert_eq!(a.json(&["calendar", "feed"])["url"], feed.as_str());
    let addr = ui.trim_start_matches("http://").to_owned();
    let get = |url: &str| {
        let path = url.trim_start_matches(&ui);
        http(
            &addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        )
    };
    eventually(30, "the room reaches B", || {
        b.run(&["resource", "list"]).stdout.contains("Salle Horta")
    });
    let booked = b
        .ok(&[
            "book",
            "Salle Horta",
            "--from",
            "2030-04-02T09:00",
            "--to",
            "2030-04-02T11:00",
            "--purpose",
            "Assemblée de Groupe Terre",
        ])
        .stdout
        .trim()
        .to_owned();
    // A calendar application subscribed to A's feed sees B's booking once
    // it has synced, without logging in.
    eventually(30, "B's booking in A's feed", || {
        let (code, body) = get(&feed);
        code == 200 && body.contains(&format!("UID:{booked}@entraide"))
    });
    let (_, body) = get(&feed);
    assert!(body.contains("BEGIN:VCALENDAR"), "{body}");
    // Revoked: the old address answers 404, the new one works.
    let renewed = a.json(&["calendar", "feed", "--revoke"])["url"]
        .as_str()
        .expect("a new address")
        .to_owned();
    assert_ne!(renewed, feed);
    assert_eq!(get(&feed).0, 404);
    assert_eq!(get(&renewed).0, 200);
    assert_eq!(get(&format!("{ui}/feed/{}.ics", "0".repeat(64))).0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_series_booked_on_the_page_says_what_it_skipped_and_is_cancelled_whole() {
    let net = alliance();
    let resource = net
        .a
        .ok(&["resource", "add", "Salle Horta", "--kind", "room"])
        .stdout
        .trim()
        .to_owned();
    // A holds the room a week after B's first occurrence.
    let day = next_week_day();
    let second_day =
        chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").expect("date") + chrono::Days::new(7);
    let second = second_day.format("%Y-%m-%d").to_string();
    // As a French reader reads it: "10 déc.".
    let second_fr = {
        use chrono::Datelike;
        const MONTHS: [&str; 12] = [
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
            "nov.", "déc.",
        ];
        format!(
            "{} {}",
            second_day.day(),
            MONTHS[second_day.month0() as usize]
        )
    };
    net.a.ok(&[
        "book",
        "Salle Horta",
        "--from",
        &format!("{second}T10:00"),
        "--to",
        &format!("{second}T11:00"),
    ]);
    eventually(30, "the room and A's booking reach B", || {
        net.b.json(&["bookings"]).as_array().map(Vec::len) == Some(1)
    });
    let driver = Driver::start();
    let page = driver.browser("fr-BE,fr").await;
    open(&page, &net.serve_b, &format!("#calendar/{day}/{resource}")).await;
    click(&page, &format!("td.slot[data-slot='{day}T10:00']")).await;
    type_into(&page, "#purpose", "Permanence").await;
    click(&page, "#book-repeat option[value=weekly]").await;
    let count = page
        .find(Locator::Css("#book-count"))
        .await
        .expect("the count field");
    count.clear().await.expect("clear");
    count.send_keys("3").await.expect("type");
    click(&page, "#book-confirm").await;
    until(20, "the page says which occurrence was skipped", || async {
        shows(&page, "#notice", "2 réservation(s) faite(s)").await
            && shows(&page, "#notice", &second_fr).await
    })
    .await;
    let series = |home: &TestHome| -> Vec<String> {
        home.json(&["bookings", "--org", "Groupe Terre"])
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["series"].is_string())
            .map(|b| b["status"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(series(&net.b), ["confirmed", "confirmed"]);
    // Cancelled whole from the page; A sees it.
    click(&page, "#own-bookings button.cancel-series").await;
    // Asked first.
    click(&page, "#cancel-yes").await;
    eventually(30, "the whole series cancelled on A", || {
        series(&net.a) == ["cancelled", "cancelled"]
    });
    page.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_changes_declines_with_a_reason_and_withdraws_from_its_page_and_refusals_read_in_french()
 {
    let net = alliance();
    let day = next_week_day();
    net.a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--approval",
    ]);
    eventually(30, "the room reaches B", || {
        net.b
            .run(&["resource", "list"])
            .stdout
            .contains("Salle Horta")
    });
    let pending = net
        .b
        .ok(&[
            "book",
            "Salle Horta",
            "--from",
            &format!("{day}T09:00"),
            "--to",
            &format!("{day}T10:00"),
            "--purpose",
            "Permanence",
        ])
        .stdout
        .trim()
        .to_owned();
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, &format!("#calendar/{day}")).await;
    // The owner declines B's pending booking, with a reason.
    until(30, "B's pending booking on A's page", || async {
        page_a.find(Locator::Css("button.decline")).await.is_ok()
    })
    .await;
    click(&page_a, "button.decline").await;
    // A reason is required: an empty one keeps the dialog open.
    click(&page_a, "#decline-yes").await;
    assert!(page_a.find(Locator::Css("#decline-dialog")).await.is_ok());
    type_into(&page_a, "#decline-reason", "Salle en travaux ce jour-là").await;
    click(&page_a, "#decline-yes").await;
    eventually(30, "B sees the decline and its reason", || {
        net.b
            .json(&["bookings", "--resource", "Salle Horta"])
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| {
                b["id"] == pending.as_str()
                    && b["declined"] == true
                    && b["reason"] == "Salle en travaux ce jour-là"
            })
    });
    // The owner changes the room: a quota, no approval any more, a capacity.
    click(&page_a, "#resource-edit summary").await;
    type_into(&page_a, "#edit-quota", "1h/week").await;
    type_into(&page_a, "#edit-capacity", "30").await;
    click(&page_a, "#edit-approval").await;
    click(&page_a, "#edit-save").await;
    eventually(30, "B sees the room changed", || {
        net.b
            .json(&["resource", "list"])
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["name"] == "Salle Horta"
                    && r["quota"] == "1h/week"
                    && r["approval"] == false
                    && r["capacity"] == 30
            })
    });
    // B, over the new quota, is refused on its page in French, with the
    // room's name and no English or command name.
    net.b.ok(&[
        "book",
        "Salle Horta",
        "--from",
        &format!("{day}T14:00"),
        "--to",
        &format!("{day}T15:00"),
        "--purpose",
        "Réunion",
    ]);
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, &format!("#calendar/{day}")).await;
    let cell = format!("td[data-slot='{day}T16:00']");
    click(&page_b, &cell).await;
    type_into(&page_b, "#purpose", "Atelier").await;
    click(&page_b, "#book-confirm").await;
    until(20, "the refusal, in French", || async {
        shows(&page_b, "#notice", "au-delà de son quota").await
    })
    .await;
    let notice = text_of(&page_b, "#notice").await.expect("the notice");
    assert!(notice.contains("Salle Horta"), "{notice}");
    assert!(
        !notice.contains("ask the owner") && !notice.contains("T00:00"),
        "{notice}"
    );
    // The owner withdraws the room; B no longer sees it.
    click(&page_a, "#resource-edit summary").await;
    click(&page_a, "#res-withdraw").await;
    type_into(&page_a, "#withdraw-reason", "Vendue").await;
    click(&page_a, "#withdraw-yes").await;
    eventually(30, "the room withdrawn on B", || {
        !net.b
            .run(&["resource", "list"])
            .stdout
            .contains("Salle Horta")
    });
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

/// The API's description validates as OpenAPI (`openapi-spec-validator`,
/// which `tests/run.sh` installs), and every reply the API gives, through
/// every route a client would call on a lived-in alliance, matches the
/// schema the description gives it (checked with `jsonschema`); a refusal
/// carries its stable code.
#[test]
fn the_openapi_document_validates_and_every_reply_matches_its_schema() {
    let a = TestHome::founded("Maison médicale du Midi");
    let serve = Serve::start_with_ui(&a);
    let b = join(&a, "Groupe Terre");
    let _serve_b = Serve::start(&b);
    let ui = serve.ui.clone().unwrap();
    let addr = ui.trim_start_matches("http://").to_owned();
    let token = std::fs::read_to_string(a.path().join("ui-token")).unwrap();
    let call = |method: &str, path: &str, body: &str| -> (u16, serde_json::Value) {
        let (code, text) = http(
            &addr,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        (
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    };
    let (code, spec) = call("GET", "/api/openapi.json", "");
    assert_eq!(code, 200);
    let spec_file = a.scratch().join("openapi.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    // Each call: its method, the documented path, and what came back.
    let seen: std::cell::RefCell<Vec<(String, String, serde_json::Value)>> = Default::default();
    let ask = |method: &str, template: &str, path: &str, body: &str| -> serde_json::Value {
        let (code, reply) = call(method, path, body);
        assert_eq!(code, 200, "{method} {path}: {reply}");
        seen.borrow_mut()
            .push((method.to_lowercase(), template.to_owned(), reply.clone()));
        reply
    };
    let day = next_week_day();
    let at = |h: &str| format!("{day}T{h}");
    let id = |v: &serde_json::Value| v["id"].as_str().expect("an id").to_owned();

    ask("GET", "/api/status", "/api/status", "");
    ask("GET", "/api/me", "/api/me", "");
    let room = id(&ask(
        "POST",
        "/api/resources",
        "/api/resources",
        r#"{"name":"Salle Horta","kind":"room","quota":"10h/week","approval":true}"#,
    ));
    ask(
        "PUT",
        "/api/resources/{id}",
        &format!("/api/resources/{room}"),
        r#"{"capacity":20,"location":"Rue Haute 12"}"#,
    );
    let mine = ask(
        "POST",
        "/api/bookings",
        "/api/bookings",
        &format!(
            r#"{{"resource":"{room}","from":"{}","to":"{}","purpose":"AG","repeat":"weekly","count":2}}"#,
            at("09:00"),
            at("10:00")
        ),
    );
    let mine = mine["ids"][0].as_str().expect("booked").to_owned();
    eventually(30, "the room reaches B", || {
        b.run(&["resource", "list"]).stdout.contains("Salle Horta")
    });
    let theirs: Vec<String> = ["11:00", "13:00"]
        .iter()
        .map(|h| {
            let from = at(h);
            let to = format!("{day}T{}:30", &h[..2]);
            b.ok(&[
                "book",
                "Salle Horta",
                "--from",
                &from,
                "--to",
                &to,
                "--purpose",
                "Atelier",
            ])
            .stdout
            .trim()
            .to_owned()
        })
        .collect();
    eventually(30, "B's bookings reach A", || {
        a.json(&["bookings"]).to_string().contains(&theirs[1])
    });
    ask(
        "POST",
        "/api/bookings/{id}/approve",
        &format!("/api/bookings/{}/approve", theirs[0]),
        "",
    );
    ask(
        "POST",
        "/api/bookings/{id}/decline",
        &format!("/api/bookings/{}/decline", theirs[1]),
        r#"{"reason":"travaux"}"#,
    );
    ask(
        "GET",
        "/api/bookings",
        &format!("/api/bookings?resource={room}"),
        "",
    );
    ask(
        "POST",
        "/api/bookings/{id}/cancel",
        &format!("/api/bookings/{mine}/cancel?series=true"),
        "",
    );
    ask("GET", "/api/resources", "/api/resources", "");
    let value = id(&ask(
        "POST",
        "/api/values",
        "/api/values",
        r#"{"name":"Solidarité","description":"Partager"}"#,
    ));
    ask(
        "POST",
        "/api/values/{id}/endorse",
        &format!("/api/values/{value}/endorse"),
        "",
    );
    ask(
        "POST",
        "/api/values/{id}/withdraw",
        &format!("/api/values/{value}/withdraw"),
        "",
    );
    ask("GET", "/api/values", "/api/values", "");
    ask(
        "PUT",
        "/api/orgs/me",
        "/api/orgs/me",
        r#"{"description":"Soins","offers":["salle"]}"#,
    );
    ask("GET", "/api/orgs", "/api/orgs", "");
    {
        let body = "Procédure d'accueil";
        let (code, reply) = http(
            &addr,
            &format!(
                "POST /api/library?file_name=accueil.txt&title=Accueil&kind=procedure&tags=asbl HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(code, 200, "{reply}");
        seen.borrow_mut().push((
            "post".into(),
            "/api/library".into(),
            serde_json::from_str(&reply).unwrap(),
        ));
    }
    ask("GET", "/api/library", "/api/library", "");
    let draft = ask("GET", "/api/charter", "/api/charter", "");
    ask("PUT", "/api/charter", "/api/charter",
        &serde_json::json!({"base": draft["heads"], "text": "Charte\n\nArticle 1 : s'entraider.\n"}).to_string());
    ask("GET", "/api/charter/history", "/api/charter/history", "");
    ask("GET", "/api/charter/adopted", "/api/charter/adopted", "");
    ask(
        "POST",
        "/api/charter/diff",
        "/api/charter/diff",
        r#"{"from":"adopted","text":"Article 2"}"#,
    );
    let proposal = id(&ask(
        "POST",
        "/api/proposals",
        "/api/proposals",
        r#"{"kind":"general","title":"Un projecteur","text":"300 EUR","process":"consent"}"#,
    ));
    ask(
        "POST",
        "/api/proposals/{id}/vote",
        &format!("/api/proposals/{proposal}/vote"),
        r#"{"position":"agree","reason":"utile"}"#,
    );
    // B votes once the proposal reached it, as its user would.
    eventually(30, "the proposal reaches B", || {
        b.json(&["proposals"]).to_string().contains(&proposal)
    });
    b.ok(&["vote", &proposal, "agree"]);
    ask("GET", "/api/proposals", "/api/proposals", "");
    ask("GET", "/api/decisions", "/api/decisions", "");
    let event = id(&ask(
        "POST",
        "/api/events",
        "/api/events",
        &format!(
            r#"{{"title":"Premiers secours","from":"{}","to":"{}","seats":12,"per_org":4}}"#,
            at("14:00"),
            at("17:00")
        ),
    ));
    ask(
        "POST",
        "/api/events/{id}/register",
        &format!("/api/events/{event}/register"),
        r#"{"seats":2,"names":"Anna, Bert"}"#,
    );
    ask(
        "POST",
        "/api/events/{id}/close",
        &format!("/api/events/{event}/close"),
        "",
    );
    ask(
        "POST",
        "/api/events/{id}/open",
        &format!("/api/events/{event}/open"),
        "",
    );
    ask(
        "POST",
        "/api/events/{id}/cancel-registration",
        &format!("/api/events/{event}/cancel-registration"),
        "",
    );
    ask("GET", "/api/events", "/api/events", "");
    let group = id(&ask(
        "POST",
        "/api/groups",
        "/api/groups",
        r#"{"name":"Cuisine","description":"Ateliers","orgs":["Groupe Terre"]}"#,
    ));
    ask("GET", "/api/groups", "/api/groups", "");
    let notes = ask(
        "GET",
        "/api/groups/{id}/notes",
        &format!("/api/groups/{group}/notes"),
        "",
    );
    ask(
        "PUT",
        "/api/groups/{id}/notes",
        &format!("/api/groups/{group}/notes"),
        &serde_json::json!({"base": notes["heads"], "text": "Ordre du jour"}).to_string(),
    );
    ask(
        "POST",
        "/api/groups/{id}/remove",
        &format!("/api/groups/{group}/remove"),
        r#"{"org":"Groupe Terre"}"#,
    );
    ask(
        "POST",
        "/api/groups/{id}/add",
        &format!("/api/groups/{group}/add"),
        r#"{"org":"Groupe Terre"}"#,
    );
    ask(
        "POST",
        "/api/groups/{id}/leave",
        &format!("/api/groups/{group}/leave"),
        "",
    );
    let loan = id(&ask(
        "POST",
        "/api/loans",
        "/api/loans",
        r#"{"org":"Groupe Terre","amount":"300.00","schedule":"3 x monthly","note":"projecteur"}"#,
    ));
    eventually(30, "the loan reaches B", || {
        b.json(&["ledger"]).to_string().contains(&loan)
    });
    b.ok(&["loan", "accept", &loan]);
    let paid = b.json(&[
        "ledger",
        "record-payment",
        "--from",
        "Maison médicale du Midi",
        "--amount",
        "300.00",
    ]);
    eventually(30, "B's records reach A", || {
        a.json(&["ledger"]).to_string().contains(&id(&paid))
    });
    ask(
        "POST",
        "/api/payments/{id}/confirm",
        &format!("/api/payments/{}/confirm", id(&paid)),
        "",
    );
    ask(
        "POST",
        "/api/payments",
        "/api/payments",
        r#"{"from":"Groupe Terre","amount":"100.00","note":"remboursement"}"#,
    );
    ask(
        "POST",
        "/api/fund/requests",
        "/api/fund/requests",
        r#"{"kind":"loan","amount":"50.00","reason":"trésorerie","repay":"2 x monthly"}"#,
    );
    ask("GET", "/api/ledger", "/api/ledger", "");
    ask("GET", "/api/fees", "/api/fees", "");
    ask(
        "POST",
        "/api/invite",
        "/api/invite",
        r#"{"role":"member","expires":"7d"}"#,
    );
    ask("POST", "/api/devices/invite", "/api/devices/invite", "{}");
    ask("POST", "/api/login-link", "/api/login-link", "");
    let person = ask(
        "POST",
        "/api/people",
        "/api/people",
        r#"{"name":"Anna Peeters"}"#,
    );
    ask("GET", "/api/people", "/api/people", "");
    ask(
        "POST",
        "/api/people/{id}/revoke",
        &format!(
            "/api/people/{}/revoke",
            person["person"]["id"].as_str().unwrap()
        ),
        "",
    );
    ask("POST", "/api/sync", "/api/sync", "");
    ask("GET", "/api/peers", "/api/peers", "");
    ask("GET", "/api/members", "/api/members", "");
    ask(
        "POST",
        "/api/resources/{id}/withdraw",
        &format!("/api/resources/{room}/withdraw"),
        r#"{"reason":"vendue"}"#,
    );
    ask(
        "POST",
        "/api/members/{org}/remove",
        "/api/members/Groupe%20Terre/remove",
        r#"{"reason":"a cessé ses activités"}"#,
    );
    ask("GET", "/api/status", "/api/status", "");

    // A refusal: its English line, its code and the fields it is made of.
    let (code, refusal) = call("GET", "/api/bookings?resource=Salle%20X", "");
    assert_eq!(code, 400, "{refusal}");
    assert_eq!(refusal["code"], "lookup.not_found", "{refusal}");
    assert_eq!(refusal["fields"]["query"], "Salle X", "{refusal}");
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("Salle X"))
    );
    let mut seen = seen.into_inner();
    seen.push(("get".into(), "/api/bookings#400".into(), refusal));

    let replies = a.scratch().join("replies.json");
    std::fs::write(&replies, serde_json::to_string(&seen).unwrap()).unwrap();
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            r##"
import json, sys
from openapi_spec_validator import validate
from jsonschema import Draft202012Validator
spec = json.load(open(sys.argv[1]))
validate(spec)
problems = []
for method, template, reply in json.load(open(sys.argv[2])):
    status = "200"
    if "#" in template:
        template, status = template.split("#")
    op = spec["paths"].get(template, {}).get(method)
    if op is None:
        problems.append(f"{method} {template}: not documented")
        continue
    content = op["responses"].get(status, {}).get("content", {}).get("application/json")
    if content is None:
        problems.append(f"{method} {template}: no JSON schema for {status}")
        continue
    schema = dict(content["schema"], components=spec["components"])
    for e in Draft202012Validator(schema).iter_errors(reply):
        problems.append(f"{method} {template}: {'/'.join(map(str, e.absolute_path))}: {e.message[:160]}")
if problems:
    sys.exit("\n".join(problems))
"##,
        )
        .arg(&spec_file)
        .arg(&replies)
        .output()
        .expect("python3 runs (tests/run.sh installs openapi-spec-validator)");
    assert!(
        check.status.success(),
        "{} calls checked:\n{}",
        seen.len(),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_is_set_up_from_the_browser_joining_with_a_ticket_or_founding() {
    let a = TestHome::founded("Maison médicale du Midi");
    let _serve_a = Serve::start(&a);
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let driver = Driver::start();

    // A fresh home: no organisation, no alliance. `serve` offers set-up.
    let b = TestHome::new();
    let setup_b = Serve::start_setup(&b);
    // The set-up page is guarded like the node's: no token, no organisation.
    let ui = setup_b.ui.clone().expect("ui");
    let addr = ui.trim_start_matches("http://").to_owned();
    let body = r#"{"name":"Intrus"}"#;
    let (code, _) = http(
        &addr,
        &format!(
            "POST /api/setup/org HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(code, 401);
    assert!(
        !b.path().join("device.key").exists(),
        "no organisation made"
    );
    let page = driver.browser("fr-BE,fr").await;
    page.goto(setup_b.login.as_deref().expect("login link"))
        .await
        .expect("login");
    let axe = axe_script();
    until(20, "the set-up page", || async {
        page.find(Locator::Css("#setup-org-name")).await.is_ok()
    })
    .await;
    assert_eq!(axe_violations(&page, &axe).await, Vec::<String>::new());
    type_into(&page, "#setup-org-name", "Groupe Terre").await;
    click(&page, "#setup-org-save").await;
    type_into(&page, "#setup-ticket", &ticket).await;
    assert_eq!(axe_violations(&page, &axe).await, Vec::<String>::new());
    screenshot(&page, "setup").await;
    click(&page, "#setup-join").await;
    // The node starts on the same address, the browser still logged in.
    until(60, "the home page of the new member", || async {
        shows(&page, "#org-name", "Groupe Terre").await
    })
    .await;
    eventually(30, "A counts B as an active member", || {
        a.json(&["member", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|m| m["org"] == "Groupe Terre" && m["status"] == "active")
        })
    });
    assert_eq!(b.json(&["status"])["alliance"]["name"], "Alliance Test");

    // Another fresh home founds its own alliance from the page.
    let c = TestHome::new();
    let setup_c = Serve::start_setup(&c);
    let page_c = driver.browser("en-GB,en").await;
    page_c
        .goto(setup_c.login.as_deref().expect("login link"))
        .await
        .expect("login");
    type_into(&page_c, "#setup-org-name", "Asbl Soleil").await;
    click(&page_c, "#setup-org-save").await;
    type_into(&page_c, "#setup-alliance-name", "Entraide Namur").await;
    click(&page_c, "#setup-found").await;
    until(60, "the home page of the founder", || async {
        shows(&page_c, "#org-name", "Asbl Soleil").await
    })
    .await;
    assert_eq!(c.json(&["status"])["alliance"]["name"], "Entraide Namur");
    // A bad ticket on a third home is refused with one line, and nothing
    // joins.
    let d = TestHome::new();
    let setup_d = Serve::start_setup(&d);
    let page_d = driver.browser("fr-BE,fr").await;
    page_d
        .goto(setup_d.login.as_deref().expect("login link"))
        .await
        .expect("login");
    type_into(&page_d, "#setup-org-name", "Asbl Lune").await;
    click(&page_d, "#setup-org-save").await;
    type_into(&page_d, "#setup-ticket", "pas-un-ticket").await;
    click(&page_d, "#setup-join").await;
    until(20, "the refusal", || async {
        page_d
            .find(Locator::Css("#notice:not([hidden])"))
            .await
            .is_ok()
    })
    .await;
    assert!(d.json(&["status"])["alliance"].is_null());
    for p in [page, page_c, page_d] {
        p.close().await.unwrap();
    }
    drop((setup_b, setup_c, setup_d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_invited_by_name_books_under_their_name_until_revoked() {
    let a = TestHome::founded("Maison médicale du Midi");
    a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    // The office network over plain HTTP is refused unless said explicitly.
    let refused = a.fails(
        &["serve", "--no-relay", "--no-mdns", "--ui", "0.0.0.0:0"],
        2,
    );
    assert!(
        refused.stderr.contains("--ui-plain-http"),
        "{}",
        refused.stderr
    );
    let serve = Serve::spawn(&mut a.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-relay",
        "--no-mdns",
        "--ui",
        "0.0.0.0:0",
        "--ui-plain-http",
        "--ui-host",
        "entraide.asbl.lan",
    ]));
    let port = serve
        .ui
        .as_deref()
        .and_then(|u| u.rsplit(':').next())
        .expect("the interface's port")
        .to_owned();
    let addr = format!("127.0.0.1:{port}");
    let token = std::fs::read_to_string(a.path().join("ui-token")).unwrap();
    // A TLS proxy's name is accepted, with an https origin; another name or
    // origin is not.
    let get = |host: &str, origin: &str| {
        http(
            &addr,
            &format!(
                "GET /api/status HTTP/1.1\r\nHost: {host}\r\n{origin}Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            ),
        )
        .0
    };
    assert_eq!(
        get("entraide.asbl.lan", "Origin: https://entraide.asbl.lan\r\n"),
        200
    );
    assert_eq!(get("evil.example", ""), 403);
    assert_eq!(
        get("entraide.asbl.lan", "Origin: https://evil.example\r\n"),
        403
    );

    let driver = Driver::start();
    let operator = driver.browser("fr-BE,fr").await;
    operator
        .goto(serve.login.as_deref().expect("login link"))
        .await
        .expect("login");
    operator
        .goto(&format!("http://{addr}/#members"))
        .await
        .expect("members page");
    type_into(&operator, "#colleague-name", "Anna Peeters").await;
    click(&operator, "#colleague-invite").await;
    until(20, "Anna's link", || async {
        shows(&operator, "#colleague-url", "/login?code=").await
    })
    .await;
    let link = text_of(&operator, "#colleague-url").await.expect("link");
    let anna = driver.browser("fr-BE,fr").await;
    anna.goto(link.trim()).await.expect("Anna logs in");
    until(20, "Anna's name in the header", || async {
        shows(&anna, "#who", "Anna Peeters").await
    })
    .await;
    // Anna books from the calendar; her colleagues see her name beside it.
    let day = next_week_day();
    anna.goto(&format!("http://{addr}/#calendar/{day}"))
        .await
        .expect("calendar");
    click(&anna, &format!("td[data-slot='{day}T10:00']")).await;
    type_into(&anna, "#purpose", "Entretien").await;
    click(&anna, "#book-confirm").await;
    operator
        .goto(&format!("http://{addr}/#calendar/{day}"))
        .await
        .expect("calendar");
    until(20, "Anna's name beside her booking", || async {
        shows(&operator, "#week .booking", "Anna Peeters").await
    })
    .await;
    // Her charter edit too, in this node's history.
    anna.goto(&format!("http://{addr}/#charter"))
        .await
        .expect("charter");
    type_into(&anna, "#charter-text", "Article 1 : s'entraider.").await;
    eventually(20, "Anna's edit stored", || {
        entraide_tests::charter(&a).contains("s'entraider")
    });
    operator
        .goto(&format!("http://{addr}/#charter"))
        .await
        .expect("charter");
    until(20, "Anna's name beside her edit", || async {
        shows(&operator, "#history", "(Anna Peeters)").await
    })
    .await;
    // The alliance sees the organisation only.
    let listed = a.json(&["bookings"]);
    assert!(!listed.to_string().contains("Anna"), "{listed}");
    let history = a.json(&["charter", "history"]);
    assert!(!history.to_string().contains("Anna"), "{history}");
    // Revoked: Anna's browser is logged out at once.
    operator
        .goto(&format!("http://{addr}/#members"))
        .await
        .expect("members page");
    click(&operator, "tr[data-person='Anna Peeters'] button.revoke").await;
    click(&operator, "#revoke-yes").await;
    until(20, "Anna revoked", || async {
        shows(&operator, "#people", "révoqué").await
    })
    .await;
    anna.refresh().await.expect("reload");
    until(20, "Anna logged out", || async {
        shows(&anna, "#online", "Pas connecté").await
    })
    .await;
    operator.close().await.unwrap();
    anna.close().await.unwrap();
    serve.stop();
}

/// axe-core (fetched by `tests/run.sh`; `ENTRAIDE_AXE` names it), as text.
fn axe_script() -> String {
    let path = std::env::var_os("ENTRAIDE_AXE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-deps");
            std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("axe-") && n.ends_with(".min.js"))
            })
        })
        .expect("axe-core is missing: run `bash tests/run.sh` once (it fetches it), or set ENTRAIDE_AXE");
    std::fs::read_to_string(&path).expect("read axe-core")
}

/// The serious and critical violations axe-core finds on the page as it is.
async fn axe_violations(page: &Client, axe: &str) -> Vec<String> {
    page.execute(axe, vec![]).await.expect("axe-core loads");
    let found = page
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '))), (e) => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core ran");
    serde_json::from_value(found).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_fits_a_phone() {
    let net = alliance();
    let day = next_week_day();
    // Something on every page.
    net.a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--approval",
    ]);
    eventually(30, "the room reaches B", || {
        net.b
            .run(&["resource", "list"])
            .stdout
            .contains("Salle Horta")
    });
    net.b.ok(&[
        "book",
        "Salle Horta",
        "--from",
        &format!("{day}T09:00"),
        "--to",
        &format!("{day}T11:00"),
        "--purpose",
        "Assemblée générale de Groupe Terre",
    ]);
    net.a.ok(&[
        "values",
        "add",
        "Solidarité",
        "--description",
        "Partager ce que nous avons",
    ]);
    net.a.ok(&[
        "propose",
        "general",
        "--title",
        "Acheter un projecteur",
        "--text",
        "Pour la salle Horta",
    ]);
    net.a.ok(&[
        "event",
        "add",
        "Premiers secours",
        "--from",
        &format!("{day}T13:00"),
        "--to",
        &format!("{day}T17:00"),
        "--seats",
        "12",
    ]);
    let file = net.a.scratch().join("procedure.txt");
    std::fs::write(&file, "Procédure d'accueil\n").unwrap();
    net.a.ok(&[
        "library",
        "add",
        file.to_str().unwrap(),
        "--title",
        "Accueil",
        "--kind",
        "procedure",
    ]);
    net.a.ok(&[
        "org",
        "set",
        "--description",
        "Soins de première ligne",
        "--offers",
        "salle",
    ]);
    eventually(30, "B has the proposal", || {
        net.b.run(&["proposals"]).stdout.contains("projecteur")
    });
    let axe = axe_script();
    let driver = Driver::start();
    let page = driver.browser("fr-BE,fr").await;
    open(&page, &net.serve_a, "#home").await;
    let ui = net.serve_a.ui.clone().expect("ui");
    let pages = [
        "home",
        "calendar",
        "day",
        "charter",
        "library",
        "proposals",
        "events",
        "groups",
        "ledger",
        "values",
        "members",
    ];
    let mut problems = Vec::new();
    for (width, label) in [(1280u32, "desktop"), (360, "phone")] {
        page.set_window_size(width, 900).await.expect("window size");
        for name in pages {
            let hash = match name {
                "calendar" | "day" => format!("#{name}/{day}"),
                _ => format!("#{name}"),
            };
            page.goto(&format!("{ui}/{hash}")).await.expect("open page");
            until(20, "the page drawn", || async {
                js(&page, "return document.querySelector('main h1') !== null").await == true
            })
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            for v in axe_violations(&page, &axe).await {
                problems.push(format!("{name} ({label}): {v}"));
            }
            let overflow = js(
                &page,
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            )
            .await
            .as_i64()
            .unwrap_or(0);
            if overflow > 1 {
                let wide = js(
                    &page,
                    "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1).slice(-3).map((e) => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')).join(', ')",
                )
                .await;
                problems.push(format!(
                    "{name} ({label}): the page is {overflow} px wider than the screen ({wide})"
                ));
            }
            screenshot(&page, &format!("{name}-{label}")).await;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Printed, a week is the calendar alone: no header, tabs, buttons or
    // forms, and every hour of the table on the page's width.
    page.set_window_size(1280, 900).await.expect("window size");
    page.goto(&format!("{ui}/#calendar/{day}"))
        .await
        .expect("calendar");
    until(20, "the week", || async {
        page.find(Locator::Css("#week")).await.is_ok()
    })
    .await;
    driver
        .cdp(
            &page,
            "Emulation.setEmulatedMedia",
            serde_json::json!({ "media": "print" }),
        )
        .await;
    let printed = js(
        &page,
        "const shown = (s) => [...document.querySelectorAll(s)].some((e) => e.offsetParent !== null);\
         return { nav: shown('nav'), header: shown('header'), buttons: shown('main button'), forms: shown('details'),\
                  week: shown('#week'), hours: document.querySelectorAll('#week tr').length,\
                  wide: document.querySelector('#week').scrollWidth > document.documentElement.clientWidth }",
    )
    .await;
    assert_eq!(
        printed,
        serde_json::json!({ "nav": false, "header": false, "buttons": false, "forms": false,
                            "week": true, "hours": 16, "wide": false }),
        "the printed week"
    );
    page.close().await.unwrap();

    // By keyboard alone: B reaches a free hour, books it with Enter, and is
    // told the owner has yet to approve; an hour already past takes no
    // focus and no booking.
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, &format!("#calendar/{day}")).await;
    let cell = format!("td[data-slot='{day}T15:00']");
    until(20, "B's week", || async {
        page_b.find(Locator::Css(&cell)).await.is_ok()
    })
    .await;
    js(
        &page_b,
        &format!("document.querySelector(\"{cell}\").focus()"),
    )
    .await;
    page_b
        .find(Locator::Css(&cell))
        .await
        .expect("the hour")
        .send_keys("\u{E007}")
        .await
        .expect("Enter");
    type_into(&page_b, "#purpose", "Réunion d'équipe").await;
    click(&page_b, "#book-confirm").await;
    until(20, "asked, not booked", || async {
        shows(&page_b, "#notice", "doit encore l'approuver").await
    })
    .await;
    let focusable = js(
        &page_b,
        "const past = document.querySelectorAll('td.slot.past'); return [past.length, [...past].filter((c) => c.tabIndex >= 0).length]",
    )
    .await;
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).format("%Y-%m-%d");
    page_b
        .goto(&format!(
            "{}/#calendar/{yesterday}",
            net.serve_b.ui.as_deref().expect("ui")
        ))
        .await
        .expect("this week");
    until(20, "past hours shown as such", || async {
        js(
            &page_b,
            "return document.querySelectorAll('td.slot.past').length",
        )
        .await
        .as_i64()
        .unwrap_or(0)
            > 0
    })
    .await;
    let past_focusable = js(
        &page_b,
        "return [...document.querySelectorAll('td.slot.past')].filter((c) => c.tabIndex >= 0 || c.getAttribute('role') === 'button').length",
    )
    .await;
    assert_eq!(past_focusable, 0, "{focusable}");
    page_b.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amendment_shows_its_diff_is_voted_on_three_pages_and_adopted_everywhere() {
    let net = alliance();
    let c = join(&net.a, "Asbl Soleil");
    let serve_c = Serve::start_with_ui(&c);
    let charter = net.a.scratch().join("charte.md");
    std::fs::write(&charter, "Charte\n\nArticle 1 : s'entraider.\n").unwrap();
    net.a
        .ok(&["charter", "set", "--file", charter.to_str().unwrap()]);
    // Adopted once, by all three, so that the amendment has something to
    // change.
    net.a.json(&[
        "propose",
        "charter-amendment",
        "--title",
        "Première charte",
        "--file",
        charter.to_str().unwrap(),
    ]);
    let first_id = net.a.json(&["proposals"])[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for home in [&net.a, &net.b, &c] {
        eventually(30, "the first charter proposal everywhere", || {
            home.run(&["proposals"]).stdout.contains("Première charte")
        });
        home.ok(&["vote", &first_id, "agree"]);
    }
    eventually(30, "the first charter adopted on C", || {
        c.json(&["charter", "show", "--adopted"])["text"]
            .as_str()
            .is_some_and(|t| t.contains("Article 1"))
    });
    let driver = Driver::start();
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &net.serve_a, "#proposals").await;
    until(20, "the proposals page", || async {
        page_a.find(Locator::Css("#prop-kind")).await.is_ok()
    })
    .await;
    page_a
        .find(Locator::Css("#prop-kind option[value='charter-amendment']"))
        .await
        .expect("the amendment option")
        .click()
        .await
        .expect("pick amendment");
    until(20, "the draft in the form", || async {
        js(&page_a, "return document.querySelector('#prop-text').value")
            .await
            .as_str()
            .is_some_and(|t| t.contains("Article 1"))
    })
    .await;
    type_into(&page_a, "#prop-title", "Article 2").await;
    type_into(&page_a, "#prop-text", "Article 2 : partager nos salles.\n").await;
    // Before it is sent: what it changes in the adopted charter.
    until(20, "the diff before sending", || async {
        shows(
            &page_a,
            "#prop-diff .add",
            "Article 2 : partager nos salles.",
        )
        .await
    })
    .await;
    click(&page_a, "#propose").await;
    let amendment = |home: &TestHome| -> Option<String> {
        home.json(&["proposals"])
            .as_array()?
            .iter()
            .find(|p| p["title"] == "Article 2")?["id"]
            .as_str()
            .map(str::to_owned)
    };
    eventually(30, "the amendment reaches C", || amendment(&c).is_some());
    let id = amendment(&c).expect("id");
    let card = format!("div[data-proposal='{id}']");
    // Each organisation votes on its own page; the header counts what waits.
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &net.serve_b, "#proposals").await;
    let page_c = driver.browser("en-GB,en").await;
    open(&page_c, &serve_c, "#proposals").await;
    for (home, page) in [(&net.b, &page_b), (&c, &page_c), (&net.a, &page_a)] {
        page.refresh().await.expect("reload");
        until(20, "the count of what awaits this organisation", || async {
            shows(page, "nav a[data-page='proposals'] .count", "1").await
        })
        .await;
        until(20, "the amendment marked as awaiting", || async {
            page.find(Locator::Css(&format!("{card}.awaiting")))
                .await
                .is_ok()
        })
        .await;
        click(page, &format!("{card} button.vote.agree")).await;
        let org = home.json(&["status"])["org"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        eventually(30, "the vote stored", || {
            home.json(&["proposals"])
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| {
                    p["id"] == id.as_str()
                        && p["votes"]
                            .as_array()
                            .is_some_and(|v| v.iter().any(|v| v["org"] == org.as_str()))
                })
        });
    }
    for home in [&net.a, &net.b, &c] {
        eventually(30, "adopted everywhere", || {
            home.json(&["charter", "show", "--adopted"])["text"]
                .as_str()
                .is_some_and(|t| t.contains("Article 2 : partager nos salles."))
        });
    }
    // The charter page shows the adoption with what it changed.
    let ui_b = net.serve_b.ui.as_deref().expect("ui");
    page_b
        .goto(&format!("{ui_b}/#charter"))
        .await
        .expect("charter");
    click(&page_b, "#history li.adopted details summary").await;
    until(20, "the adoption's diff", || async {
        shows(&page_b, "#history pre.diff .add", "Article 2").await
    })
    .await;
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    page_c.close().await.unwrap();
    serve_c.stop();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_tabs_of_the_interface_all_load_and_all_follow_live_changes() {
    let a = TestHome::founded("Maison médicale du Midi");
    let serve = Serve::start_with_ui(&a);
    let ui = serve.ui.clone().expect("ui");
    let driver = Driver::start();
    let page = driver.browser("fr-BE,fr").await;
    open(&page, &serve, "#values").await;
    until(20, "the first tab", || async {
        shows(&page, "#org-name, h1", "").await
    })
    .await;
    // Nine more tabs, each drawn within seconds (a browser gives one host
    // six connections: one live stream per tab would starve the seventh).
    let mut tabs = vec![page.window().await.expect("first tab")];
    for _ in 0..9 {
        let tab = page.new_window(true).await.expect("a new tab").handle;
        page.switch_to_window(tab.clone())
            .await
            .expect("to the tab");
        page.goto(&format!("{ui}/#values")).await.expect("open");
        until(10, "the tab drawn", || async {
            js(&page, "return document.querySelector('main h1') !== null").await == true
        })
        .await;
        tabs.push(tab);
    }
    // Leaving the interface and coming back, again and again, draws the
    // page at once each time (the streams of pages left are let go).
    for _ in 0..6 {
        page.goto("about:blank").await.expect("leave");
        page.goto(&format!("{ui}/#values"))
            .await
            .expect("come back");
        until(5, "the page drawn again", || async {
            js(&page, "return document.querySelector('main h1') !== null").await == true
        })
        .await;
    }
    // A change made elsewhere reaches every tab, leader or not.
    a.ok(&["values", "add", "Ouverture"]);
    for tab in tabs {
        page.switch_to_window(tab).await.expect("to the tab");
        until(15, "the new value in this tab", || async {
            shows(&page, "main", "Ouverture").await
        })
        .await;
    }
    page.close().await.unwrap();
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_page_blocks_under_consensus_and_invites_and_revokes_a_device() {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&["alliance", "create", "Alliance", "--admission", "consensus"]);
    let serve_a = Serve::start_with_ui(&a);
    let b = join(&a, "Asbl B");
    let serve_b = Serve::start_with_ui(&b);
    // C asks to join: under consensus B must agree too.
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let c = TestHome::new();
    c.ok(&["init", "--org", "Asbl C"]);
    c.ok(&["join", &ticket, "--timeout", "20"]);
    eventually(30, "C pending on B", || {
        b.json(&["member", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|m| m["org"] == "Asbl C" && m["status"] == "pending")
        })
    });
    let driver = Driver::start();
    let page_b = driver.browser("fr-BE,fr").await;
    open(&page_b, &serve_b, "#members").await;
    let row = "tr[data-org='Asbl C']";
    until(20, "C's row with approve and block", || async {
        page_b
            .find(Locator::Css(&format!("{row} button.approve")))
            .await
            .is_ok()
            && page_b
                .find(Locator::Css(&format!("{row} button.block")))
                .await
                .is_ok()
    })
    .await;
    // Who approved, and whose approval is still missing.
    until(20, "what C's admission waits for", || async {
        shows(
            &page_b,
            &format!("{row} .waits"),
            "approuvée par Asbl A ; attend encore Asbl B",
        )
        .await
    })
    .await;
    // A plain member under consensus proposes removals too (the rule lets
    // it), but never of itself.
    assert!(
        page_b
            .find(Locator::Css("tr[data-org='Asbl A'] button.remove"))
            .await
            .is_ok()
    );
    assert!(
        page_b
            .find(Locator::Css("tr[data-org='Asbl B'] button.remove"))
            .await
            .is_err()
    );
    click(&page_b, &format!("{row} button.block")).await;
    type_into(
        &page_b,
        "#block-reason",
        "Nous ne connaissons pas encore cette association",
    )
    .await;
    click(&page_b, "#block-yes").await;
    eventually(30, "B's block reaches A, and C is not admitted", || {
        a.json(&["member", "log"])
            .to_string()
            .contains("Nous ne connaissons pas encore cette association")
    });
    assert!(a.json(&["member", "list"]).as_array().is_some_and(|l| {
        !l.iter()
            .any(|m| m["org"] == "Asbl C" && m["status"] == "active")
    }));

    // A second laptop of A joins with a ticket made on A's page, then is
    // revoked from it.
    let page_a = driver.browser("fr-BE,fr").await;
    open(&page_a, &serve_a, "#members").await;
    click(&page_a, "#device-invite").await;
    until(20, "the device ticket", || async {
        page_a.find(Locator::Css("#device-ticket")).await.is_ok()
    })
    .await;
    let device_ticket = text_of(&page_a, "#device-ticket").await.expect("ticket");
    let laptop = TestHome::new();
    laptop.ok(&["init", "--org", "Asbl A (portable)"]);
    laptop.ok(&["join", device_ticket.trim(), "--timeout", "20"]);
    let device = laptop.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    let own_devices = |home: &TestHome, key: &str| -> Vec<String> {
        home.json(&["member", "list"])
            .as_array()
            .and_then(|l| l.iter().find(|m| m["org"] == "Asbl A").cloned())
            .and_then(|m| m[key].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect()
    };
    assert!(own_devices(&a, "devices").contains(&device));
    let dev_row = format!("#devices tr[data-device='{device}']");
    until(20, "the laptop on A's page", || async {
        page_a
            .find(Locator::Css(&format!("{dev_row} button.revoke-device")))
            .await
            .is_ok()
    })
    .await;
    click(&page_a, &format!("{dev_row} button.revoke-device")).await;
    click(&page_a, "#device-yes").await;
    eventually(30, "the laptop revoked", || {
        own_devices(&a, "removed_devices").contains(&device)
    });
    // A, the coordinator, makes B a coordinator from its page.
    click(
        &page_a,
        "tr[data-org='Asbl B'] select.role option[value='coordinator']",
    )
    .await;
    eventually(30, "B is a coordinator", || {
        b.json(&["member", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|m| m["org"] == "Asbl B" && m["role"] == "coordinator")
        })
    });
    page_a.close().await.unwrap();
    page_b.close().await.unwrap();
    serve_a.stop();
    serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_view_shows_every_resource_side_by_side_and_books_a_free_hour() {
    let net = alliance();
    let day = next_week_day();
    net.a
        .ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    net.a
        .ok(&["resource", "add", "Camionnette", "--kind", "vehicle"]);
    net.a.ok(&[
        "book",
        "Salle Horta",
        "--from",
        &format!("{day}T14:00"),
        "--to",
        &format!("{day}T16:00"),
        "--purpose",
        "Conseil d'administration",
    ]);
    eventually(30, "both resources and the booking reach B", || {
        net.b.json(&["bookings"]).to_string().contains("Conseil")
            && net
                .b
                .run(&["resource", "list"])
                .stdout
                .contains("Camionnette")
    });
    let driver = Driver::start();
    let page = driver.browser("fr-BE,fr").await;
    open(&page, &net.serve_b, &format!("#calendar/{day}")).await;
    click(&page, "#day-view").await;
    let ui = net.serve_b.ui.as_deref().expect("ui");
    page.goto(&format!("{ui}/#day/{day}")).await.expect("day");
    until(20, "both resources side by side", || async {
        shows(&page, "#day", "Salle Horta").await && shows(&page, "#day", "Camionnette").await
    })
    .await;
    // Thursday afternoon, say: the room is taken at 15:00, the van is free.
    let horta = net
        .b
        .json(&["resource", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Salle Horta")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let van = net
        .b
        .json(&["resource", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Camionnette")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = |res: &str| format!("#day td[data-slot='{day}T15:00'][data-resource='{res}']");
    until(20, "the room's hour taken", || async {
        shows(&page, &at(&horta), "Conseil").await
    })
    .await;
    assert_eq!(
        js(
            &page,
            &format!("return document.querySelector(\"{}\").className", at(&van))
        )
        .await,
        "slot free"
    );
    click(&page, &at(&van)).await;
    type_into(&page, "#purpose", "Livraison").await;
    click(&page, "#book-confirm").await;
    eventually(30, "the van booked, seen on A", || {
        net.a
            .json(&["bookings", "--resource", "Camionnette"])
            .to_string()
            .contains("Livraison")
    });
    until(20, "the van's hour taken on the page", || async {
        shows(&page, &at(&van), "Livraison").await
    })
    .await;
    page.close().await.unwrap();
    net.serve_a.stop();
    net.serve_b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_set_up_from_the_browser_waits_for_its_admission_under_consensus() {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&["alliance", "create", "Alliance", "--admission", "consensus"]);
    let _serve_a = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _serve_b = Serve::start(&b);
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let d = TestHome::new();
    let setup = Serve::start_setup(&d);
    let driver = Driver::start();
    let page = driver.browser("fr-BE,fr").await;
    page.goto(setup.login.as_deref().expect("login link"))
        .await
        .expect("login");
    type_into(&page, "#setup-org-name", "Asbl D").await;
    click(&page, "#setup-org-save").await;
    type_into(&page, "#setup-ticket", &ticket).await;
    click(&page, "#setup-join").await;
    // B has yet to agree: the page says so, and stays the set-up page.
    until(30, "the admission waits", || async {
        page.find(Locator::Css("#setup-pending")).await.is_ok()
    })
    .await;
    page.refresh().await.expect("reload");
    until(20, "still waiting after a reload", || async {
        page.find(Locator::Css("#setup-wait")).await.is_ok()
    })
    .await;
    let d_org = d.json(&["status"])["org_id"]
        .as_str()
        .expect("org id")
        .to_owned();
    eventually(30, "D pending on B", || {
        b.json(&["member", "list"]).to_string().contains(&d_org)
    });
    b.ok(&["member", "approve", &d_org]);
    click(&page, "#setup-wait").await;
    until(60, "admitted: the node's home page", || async {
        shows(&page, "#org-name", "Asbl D").await
    })
    .await;
    page.close().await.unwrap();
    drop(setup);
}
