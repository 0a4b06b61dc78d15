//! Two copies of one home, and a home restored from an older backup: each
//! opening writes under an actor of its own, so both copies' writes are
//! kept and every node converges (before, two changes under one actor and
//! sequence number split the alliance for good).

use std::path::Path;

use chrono_tz::Tz;
use entraide_node::{Home, Node, Request};

mod common;
use common::{admit, copy_dir, founder, node, push, vvs};

fn open(path: &Path) -> Node {
    Node::open(&Home::new(path.to_owned()), Tz::UTC).expect("open")
}

fn charter(n: &mut Node) -> String {
    n.execute(Request::CharterShow).expect("show").json["text"]
        .as_str()
        .expect("text")
        .to_owned()
}

/// Adds a line to the charter as the user would (text of the whole charter).
fn add_line(n: &mut Node, line: &str) {
    let text = format!("{}{line}\n", charter(n));
    n.execute(Request::CharterSet { text }).expect("set");
}

fn value(n: &mut Node, title: &str) {
    n.execute(Request::ValuesAdd {
        name: title.into(),
        description: format!("{title}, written together"),
    })
    .expect("value");
}

fn values(n: &mut Node) -> Vec<String> {
    let list = n.execute(Request::ValuesList).expect("values").json;
    let mut titles: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect();
    titles.sort();
    titles
}

#[test]
fn a_copied_home_and_its_original_both_keep_their_writes_and_converge() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    let mut c = node(&dir, "c");
    admit(&mut a, &mut b);
    admit(&mut a, &mut c);
    push(&mut a, &mut b);
    push(&mut a, &mut c);
    add_line(&mut c, "article 1");
    push(&mut c, &mut a);
    push(&mut c, &mut b);
    // C's folder is copied to a new laptop while the old one goes on.
    let c_path = dir.path().join("c");
    let copy_path = dir.path().join("c-copy");
    drop(c);
    copy_dir(&c_path, &copy_path);
    let mut c = open(&c_path);
    let mut copy = open(&copy_path);
    // The original meets only A, the copy only B: each writes the same
    // kinds of change, at the same sequence numbers as far as the copied
    // store can tell.
    add_line(&mut c, "article 2, from the old laptop");
    value(&mut c, "Solidarité");
    add_line(&mut copy, "article 2, from the new laptop");
    value(&mut copy, "Entraide");
    push(&mut c, &mut a);
    push(&mut copy, &mut b);
    // A and B meet again, then everyone.
    for _ in 0..2 {
        push(&mut a, &mut b);
        push(&mut b, &mut a);
        push(&mut a, &mut c);
        push(&mut c, &mut a);
        push(&mut b, &mut copy);
        push(&mut copy, &mut b);
    }
    let text = charter(&mut a);
    assert!(text.contains("from the old laptop"), "{text}");
    assert!(text.contains("from the new laptop"), "{text}");
    for n in [&mut b, &mut c, &mut copy] {
        assert_eq!(charter(n), text);
        assert_eq!(values(n), vec!["Entraide", "Solidarité"]);
    }
    assert_eq!(vvs(&mut a), vvs(&mut b));
    assert_eq!(vvs(&mut a), vvs(&mut c));
    assert_eq!(vvs(&mut a), vvs(&mut copy));
    // Later edits of every side still go through everywhere.
    add_line(&mut a, "article 3");
    add_line(&mut copy, "article 4");
    for _ in 0..2 {
        push(&mut a, &mut b);
        push(&mut b, &mut copy);
        push(&mut copy, &mut b);
        push(&mut b, &mut a);
        push(&mut a, &mut c);
    }
    assert_eq!(charter(&mut c), charter(&mut copy));
    assert!(charter(&mut c).contains("article 4"));
    // Each copy is told, in one line, that another copy wrote as its device.
    for n in [&mut c, &mut copy] {
        let status = n.execute(Request::Status).expect("status");
        assert!(
            status.json["other_copy_seen"].is_string(),
            "{}",
            status.json
        );
        assert!(
            status.text.contains("another copy of this home"),
            "{}",
            status.text
        );
    }
    let status = a.execute(Request::Status).expect("status");
    assert!(status.json["other_copy_seen"].is_null(), "{}", status.json);
}

#[test]
fn a_home_restored_from_an_older_backup_keeps_writing_and_gets_back_what_it_had_sent() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    push(&mut a, &mut b);
    add_line(&mut b, "before the backup");
    push(&mut b, &mut a);
    // Last week's backup.
    let b_path = dir.path().join("b");
    let backup = dir.path().join("b-backup");
    drop(b);
    copy_dir(&b_path, &backup);
    let mut b = open(&b_path);
    add_line(&mut b, "after the backup, sent");
    value(&mut b, "Confiance");
    push(&mut b, &mut a);
    // The laptop dies; the backup is restored in its place.
    drop(b);
    std::fs::remove_dir_all(&b_path).expect("rm");
    copy_dir(&backup, &b_path);
    let mut b = open(&b_path);
    add_line(&mut b, "after the restore");
    for _ in 0..2 {
        push(&mut b, &mut a);
        push(&mut a, &mut b);
    }
    let text = charter(&mut a);
    for line in [
        "before the backup",
        "after the backup, sent",
        "after the restore",
    ] {
        assert!(text.contains(line), "{line} missing: {text}");
    }
    assert_eq!(charter(&mut b), text);
    assert_eq!(values(&mut b), vec!["Confiance"]);
    assert_eq!(vvs(&mut a), vvs(&mut b));
    let status = b.execute(Request::Status).expect("status");
    assert!(
        status.text.contains("another copy of this home"),
        "{}",
        status.text
    );
}
