//! Documents are read from the store when a command first needs them: a
//! document that cannot be read is an error of the commands that read it,
//! never of the others, and never a panic or an empty document in its place.

use chrono_tz::Tz;
use entraide_docs::{DocKind, Part};
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
    // A group's documents load together: the calendars `bookings` lists
    // include the group's, so it fails too, naming the document; what
    // reads only the alliance's documents still answers, the bookings of
    // an alliance room among them (its part of the calendar is found by
    // its name alone).
    let e = a
        .execute(Request::Bookings {
            resource: None,
            org: None,
            from: None,
            to: None,
        })
        .expect_err("the group's documents are read together");
    assert!(e.to_string().contains(&name), "{e}");
    assert_eq!(bookings(&mut a).expect("the room's bookings"), 1);
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

#[test]
fn a_resource_named_is_read_from_its_own_part_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = founder(&dir);
    for n in 1..=9 {
        add_room(&mut a, &format!("Salle {n}"));
    }
    let listed = a.execute(Request::ResourceList).expect("list");
    // A room whose id is in another part than the one its name hashes to
    // (where a search by name used to start).
    let (name, id) = listed
        .json
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_owned(),
                r["id"].as_str().expect("id").to_owned(),
            )
        })
        .find(|(name, id)| DocKind::calendar_of(name) != DocKind::calendar_of(id))
        .expect("one of nine rooms");
    let home = a.home().clone();
    drop(a);
    // Every other part of the calendar damaged: reading any of them fails.
    damage_parts_but(&home, DocKind::calendar_of(&id));

    let mut n = Node::open_to_read(&home, Tz::UTC).expect("open");
    for query in [name.as_str(), &id[..8], &name.to_uppercase()] {
        let reply = n
            .execute(Request::Bookings {
                resource: Some(query.into()),
                org: None,
                from: None,
                to: None,
            })
            .unwrap_or_else(|e| panic!("{query}: only its own part is read: {e}"));
        assert_eq!(reply.json.as_array().map(Vec::len), Some(0));
    }
    // A name no part keeps: every part is searched, and the damage shows.
    let unknown = n.execute(Request::Bookings {
        resource: Some("Salle Rouge".into()),
        org: None,
        from: None,
        to: None,
    });
    assert!(unknown.is_err(), "{unknown:?}");
}

#[test]
fn a_resource_added_or_renamed_by_a_peer_is_found_by_its_new_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = founder(&dir);
    let mut b = common::node(&dir, "b");
    common::admit(&mut a, &mut b);
    add_room(&mut a, "Salle Verte");
    common::push(&mut a, &mut b);
    let find = |n: &mut Node, query: &str| {
        n.execute(Request::Bookings {
            resource: Some(query.into()),
            org: None,
            from: None,
            to: None,
        })
        .map(|_| ())
    };
    find(&mut b, "Salle Verte").expect("b knows the room");
    let home_b = b.home().clone();
    drop(b);
    // A adds a room and renames the first; B receives both while it holds
    // the names each part kept before.
    add_room(&mut a, "Salle Bleue");
    a.execute(Request::ResourceEdit(entraide_node::ResourceEdit {
        resource: "Salle Verte".into(),
        name: Some("Salle Jaune".into()),
        ..Default::default()
    }))
    .expect("rename");
    let mut b = Node::open(&home_b, Tz::UTC).expect("open b");
    common::push(&mut a, &mut b);
    drop(b);
    let mut b = Node::open_to_read(&home_b, Tz::UTC).expect("open b to read");
    find(&mut b, "Salle Bleue").expect("the new room");
    find(&mut b, "Salle Jaune").expect("the new name");
    let old = find(&mut b, "Salle Verte").expect_err("the old name is gone");
    assert!(old.to_string().contains("no resource matches"), "{old}");
    drop(b);
    // Once B makes what it received durable, it keeps the new names too:
    // with every other part damaged, a room A adds is found by name.
    add_room(&mut a, "Salle Rose");
    let mut b = Node::open(&home_b, Tz::UTC).expect("open b");
    common::push(&mut a, &mut b);
    b.flush().expect("flush");
    let rose = b
        .execute(Request::ResourceList)
        .expect("list")
        .json
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["name"] == "Salle Rose")
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .expect("the new room");
    drop(b);
    damage_parts_but(&home_b, DocKind::calendar_of(&rose));
    let mut b = Node::open_to_read(&home_b, Tz::UTC).expect("open b to read");
    find(&mut b, "Salle Rose").expect("found in its own part alone");
}

/// Damages every part of the calendar but `keep`: reading any fails.
fn damage_parts_but(home: &Home, keep: DocKind) {
    let store = Store::open(&home.store_path()).expect("store");
    for part in Part::all().map(DocKind::Calendar) {
        if part != keep {
            let mut batch = WriteBatch::new();
            batch.replace_doc(&part.name(), vec![0x85, 0x6f, 0x4a, 0x83, 0xff, 0xff, 0xff]);
            store.commit(batch).expect("commit");
        }
    }
}
