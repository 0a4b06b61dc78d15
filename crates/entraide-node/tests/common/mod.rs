//! Two or more nodes wired without a network, for the tests of this crate.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono_tz::Tz;
use entraide_docs::{DocKind, VersionVector};
use entraide_node::session::{End, Event, Mode, Session};
use entraide_node::{Home, Node, Request, Ticket};

/// Copies a home directory, as a user copies the folder (or a backup).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A fresh node for `org` in `dir`.
pub fn node(dir: &tempfile::TempDir, org: &str) -> Node {
    Node::init(&Home::new(dir.path().join(org)), org, Tz::UTC).expect("init")
}

/// Node `a`, founder of an alliance under the coordinator rule.
pub fn founder(dir: &tempfile::TempDir) -> Node {
    let mut a = node(dir, "a");
    a.execute(Request::AllianceCreate {
        name: "Alliance".into(),
        admission: "coordinator".into(),
        process: None,
    })
    .expect("found");
    a.set_listen_addrs(vec!["127.0.0.1:9".parse().expect("addr")], None)
        .expect("addrs");
    a
}

/// Adds a room named `name`, bookable by anyone without approval.
pub fn add_room(n: &mut Node, name: &str) {
    n.execute(Request::ResourceAdd {
        name: name.into(),
        kind: "room".into(),
        capacity: None,
        location: None,
        quota: None,
        approval: false,
        hours: None,
        group: None,
    })
    .expect("resource");
}

/// `a` invites `b`, which is admitted.
pub fn admit(a: &mut Node, b: &mut Node) {
    admit_as(a, b, "member");
}

/// `a` invites `b` with `role`, and `b` is admitted.
pub fn admit_as(a: &mut Node, b: &mut Node, role: &str) {
    let reply = a
        .execute(Request::Invite {
            role: role.into(),
            expires: "1d".into(),
        })
        .expect("invite");
    let ticket = Ticket::decode(reply.json["ticket"].as_str().expect("ticket")).expect("decode");
    let request = b.join_request(&ticket).expect("request");
    let ops = a.admit(b.device(), &request).expect("admit");
    assert!(
        b.accept_admission(&ticket, ops.ops()).expect("accept"),
        "not admitted"
    );
}

/// Each document's version vector.
pub fn vvs(n: &mut Node) -> BTreeMap<DocKind, VersionVector> {
    n.summary()
        .docs
        .into_iter()
        .map(|(k, vv)| (k, vv.into_iter().collect()))
        .collect()
}

/// Sends `to` everything `from` has that it lacks.
pub fn push(from: &mut Node, to: &mut Node) {
    let ops = from.ops_for(&to.op_heads());
    to.receive_ops(&ops).expect("ops");
    let theirs = vvs(to);
    for doc in DocKind::ALL {
        if let Some(bundle) = from.bundle_for(doc, &theirs.get(&doc).cloned().unwrap_or_default()) {
            to.receive_bundle(&bundle).expect("bundle");
        }
    }
}

/// The library's entries as `library list --json` prints them.
pub fn library(n: &mut Node) -> serde_json::Value {
    n.execute(Request::LibraryList {
        kind: None,
        tag: None,
        search: None,
    })
    .expect("list")
    .json
}

/// The charter text `n` shows.
pub fn charter(n: &mut Node) -> String {
    n.execute(Request::CharterShow).expect("charter").json["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn append(n: &mut Node, line: &str) {
    let text = format!("{}{line}\n", charter(n));
    n.execute(Request::CharterSet { text })
        .expect("charter set");
}

/// A live session between `x` and `y`, run until neither has anything
/// more to say; how it ended, if it did.
pub fn meet(x: &mut Node, y: &mut Node) -> Option<End> {
    let mut sx = Session::new(y.device(), Mode::Live);
    let mut sy = Session::new(x.device(), Mode::Live);
    let mut to_y = sx.handle(x, Event::Start, 0).send;
    let mut to_x = sy.handle(y, Event::Start, 0).send;
    for _ in 0..50 {
        if to_x.is_empty() && to_y.is_empty() {
            break;
        }
        for msg in std::mem::take(&mut to_y) {
            let out = sy.handle(y, Event::Received(msg), 0);
            if out.end.is_some() {
                return out.end;
            }
            to_x.extend(out.send);
        }
        for msg in std::mem::take(&mut to_x) {
            let out = sx.handle(x, Event::Received(msg), 0);
            if out.end.is_some() {
                return out.end;
            }
            to_y.extend(out.send);
        }
    }
    None
}
