//! Documents are read from the store when a command first needs them: a
//! document that cannot be read is an error of the commands that read it,
//! never of the others, and never a panic or an empty document in its place.

use chrono_tz::Tz;
use entraide_node::{Home, Node, Request};
use entraide_store::{Store, WriteBatch};

mod common;
use common::{add_room, founder};

/// A founder with one room booked and a charter draft, closed again.
fn home_with_a_booking(dir: &tempfile::TempDir) -> Home {
    let mut a = founder(dir);
    add_room(&mut a, "Salle Verte");
    a.execute(Request::Book {
        resource: "Salle Verte".into(),
        from: "2027-06-08T10:00".into(),
        to: "2027-06-08T11:00".into(),
        purpose: "Assemblée".into(),
        repeat: None,
        count: None,
        until: None,
    })
    .expect("book");
    a.execute(Request::CharterSet {
        text: "Nous, associations...".into(),
    })
    .expect("charter");
    a.home().clone()
}

fn bookings(n: &mut Node) -> Result<usize, entraide_node::NodeError> {
    let reply = n.execute(Request::Bookings {
        resource: Some("Salle Verte".into()),
        org: None,
        from: None,
        to: None,
    })?;
    Ok(reply.json.as_array().map_or(0, Vec::len))
}

#[test]
fn a_damaged_document_fails_only_the_commands_that_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_with_a_booking(&dir);
    // The charter as stored, with bytes flipped past its header: what a
    // disk error or a bad restore leaves.
    let store = Store::open(&home.store_path()).expect("store");
    let mut chunk = store.doc_chunks("charter").expect("chunks").concat();
    for b in &mut chunk[12..40] {
        *b ^= 0xff;
    }
    let mut batch = WriteBatch::new();
    batch.replace_doc("charter", chunk.clone());
    store.commit(batch).expect("commit");
    drop(store);

    let mut a =
        Node::open(&home, Tz::UTC).expect("the node opens: no command has read the charter yet");
    assert_eq!(
        bookings(&mut a).expect("bookings do not read the charter"),
        1
    );
    for request in [Request::CharterShow, Request::Status] {
        let what = format!("{request:?}");
        let e = a.execute(request).expect_err("the charter cannot be read");
        assert!(
            e.to_string().contains("charter"),
            "{what}: the error names the document: {e}"
        );
    }
    let e = a
        .execute(Request::CharterSet {
            text: "Autre texte".into(),
        })
        .expect_err("nothing is written over a document that cannot be read");
    assert!(e.to_string().contains("charter"), "{e}");
    // The node still answers what it can, and the booking is still there.
    assert_eq!(bookings(&mut a).expect("bookings still answer"), 1);
    drop(a);
    let store = Store::open(&home.store_path()).expect("store");
    assert_eq!(
        store.doc_chunks("charter").expect("chunks"),
        vec![chunk],
        "the charter is left as it was, for recovery"
    );
}

#[test]
fn a_command_sees_what_the_previous_process_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_with_a_booking(&dir);
    let mut a = Node::open(&home, Tz::UTC).expect("open");
    assert_eq!(bookings(&mut a).expect("bookings"), 1);
    let charter = a.execute(Request::CharterShow).expect("charter");
    assert_eq!(charter.json["text"], "Nous, associations...");
}

/// A working group's document that cannot be read is an error too: it was
/// shown (and written over) from its genesis, as if the group's notes were
/// empty.
#[test]
fn a_damaged_group_document_is_an_error_not_an_empty_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_with_a_booking(&dir);
    let mut a = Node::open(&home, Tz::UTC).expect("open");
    let group = a
        .execute(Request::GroupCreate {
            name: "Formations".into(),
            description: String::new(),
            orgs: Vec::new(),
        })
        .expect("group");
    let id = group.json["id"].as_str().expect("id").to_owned();
    let notes = |text: &str| Request::GroupNotesSet {
        group: "Formations".into(),
        text: text.into(),
        base: Vec::new(),
    };
    a.execute(notes("Ordre du jour")).expect("notes");
    drop(a);
    let name = format!("group/{id}/notes");
    let store = Store::open(&home.store_path()).expect("store");
    let mut chunk = store.doc_chunks(&name).expect("chunks").concat();
    for b in &mut chunk[12..40] {
        *b ^= 0xff;
    }
    let mut batch = WriteBatch::new();
    batch.replace_doc(&name, chunk.clone());
    store.commit(batch).expect("commit");
    drop(store);

    let mut a = Node::open(&home, Tz::UTC).expect("open");
    let show = Request::GroupNotes {
        group: "Formations".into(),
    };
    let e = a.execute(show).expect_err("the notes cannot be read");
    assert!(e.to_string().contains(&name), "the error names it: {e}");
    a.execute(notes("Autre texte"))
        .expect_err("nothing is written over a document that cannot be read");
    // A group's documents load together: the calendars `bookings` searches
    // include the group's, so it fails too, naming the document; what
    // reads only the alliance's documents still answers.
    let e = bookings(&mut a).expect_err("the group's documents are read together");
    assert!(e.to_string().contains(&name), "{e}");
    let charter = a.execute(Request::CharterShow).expect("the charter");
    assert_eq!(charter.json["text"], "Nous, associations...");
    drop(a);
    let store = Store::open(&home.store_path()).expect("store");
    assert_eq!(
        store.doc_chunks(&name).expect("chunks"),
        vec![chunk],
        "the notes are left as they were, for recovery"
    );
}
