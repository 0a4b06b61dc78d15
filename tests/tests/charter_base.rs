//! `charter set --base` and `charter edit` follow the web page's rule: only
//! the user's own difference from the version they took is applied, so edits
//! from others that arrived meanwhile are kept. Without `--base`, `charter
//! set` still makes the text the file's.

use entraide_tests::{Serve, TestHome, binary, charter, eventually, heads, join, set_charter};

const FIRST: &str = "Charter\n\nArticle 1.\n\nArticle 2.\n";

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|h| h.as_str().expect("a string").to_owned())
        .collect()
}

/// `charter set --file <path> --base <heads>...`, with `--json`.
fn set_from(home: &TestHome, text: &str, base: &[String]) -> serde_json::Value {
    let path = home.scratch().join("edited.txt");
    std::fs::write(&path, text).expect("write");
    let mut args = vec!["charter", "set", "--file", path.to_str().expect("path")];
    args.push("--base");
    args.extend(base.iter().map(String::as_str));
    home.json(&args)
}

#[test]
fn set_with_base_keeps_what_a_member_wrote_meanwhile() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    set_charter(&a, FIRST);
    b.ok(&["sync", "--timeout", "10"]);
    assert_eq!(charter(&b), FIRST);

    // A's coordinator takes the text to edit it for a while.
    let taken = a.json(&["charter", "show"]);
    let old_text = taken["text"].as_str().expect("text").to_owned();
    let old_heads = strings(&taken["heads"]);
    assert_eq!(old_text, FIRST);

    // Meanwhile B's edit reaches A.
    let from_b = "Charter\n\nArticle 1.\n\nArticle 2. Autonomy.\n";
    set_charter(&b, from_b);
    b.ok(&["sync", "--timeout", "10"]);
    eventually(10, "B's edit reaches A", || charter(&a) == from_b);

    // A saves the old text with its own edit, naming the version it took.
    let from_a = old_text.replace("Article 1.", "Article 1. Solidarity.");
    let reply = set_from(&a, &from_a, &old_heads);
    let merged = "Charter\n\nArticle 1. Solidarity.\n\nArticle 2. Autonomy.\n";
    assert_eq!(reply["changed"], true, "{reply}");
    assert_eq!(reply["text"], merged, "{reply}");
    assert_eq!(charter(&a), merged);
    assert_eq!(strings(&reply["heads"]).len(), 1, "{reply}");

    b.ok(&["sync", "--timeout", "10"]);
    assert_eq!(charter(&b), merged);
    assert_eq!(heads(&a, "charter"), heads(&b, "charter"));
}

#[test]
fn set_with_bad_base_changes_nothing() {
    let home = TestHome::founded("Asbl A");
    set_charter(&home, FIRST);
    let before = heads(&home, "charter");
    let path = home.scratch().join("edited.txt");
    std::fs::write(&path, "something else\n").expect("write");
    let file = path.to_str().expect("path");
    let unknown = "0".repeat(64);
    for base in ["not-a-head", unknown.as_str(), ""] {
        let run = home.fails(&["charter", "set", "--file", file, "--base", base], 2);
        assert!(run.stderr.contains("nothing changed"), "{run:?}");
    }
    // A real head beside an unknown one is refused as a whole.
    let mut args = vec!["charter", "set", "--file", file, "--base"];
    args.extend(before.iter().map(String::as_str));
    args.push(&unknown);
    home.fails(&args, 2);
    assert_eq!(charter(&home), FIRST);
    assert_eq!(heads(&home, "charter"), before);
}

#[test]
fn set_without_base_still_replaces_the_text() {
    let home = TestHome::founded("Asbl A");
    set_charter(&home, FIRST);
    let taken = home.json(&["charter", "show"]);
    set_charter(&home, "Charter\n\nArticle 1.\n\nArticle 2. Autonomy.\n");
    // The old copy, saved without --base, is the text again: the edit made
    // since it was taken is undone, as documented.
    let path = home.scratch().join("old.txt");
    std::fs::write(&path, taken["text"].as_str().expect("text")).expect("write");
    let reply = home.json(&["charter", "set", "--file", path.to_str().expect("path")]);
    assert_eq!(reply["changed"], true, "{reply}");
    assert_eq!(charter(&home), FIRST);
    let reply = home.json(&["charter", "set", "--file", path.to_str().expect("path")]);
    assert_eq!(reply["changed"], false, "{reply}");
}

#[test]
fn edit_keeps_what_arrived_while_the_editor_was_open() {
    let home = TestHome::founded("Asbl A");
    set_charter(&home, FIRST);
    // The "editor": another command changes the charter while it is open
    // (as a member's edit arriving would), then the user's own change.
    let other = home.scratch().join("other.txt");
    std::fs::write(&other, "Charter\n\nArticle 1.\n\nArticle 2. Autonomy.\n").expect("write");
    let script = home.scratch().join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "\"{bin}\" --home \"{home}\" charter set --file \"{other}\" >/dev/null || exit 1\n\
             sed -i 's/Article 1\\./Article 1. Solidarity./' \"$1\"\n",
            bin = binary().display(),
            home = home.path().display(),
            other = other.display(),
        ),
    )
    .expect("write");
    let out = home
        .command(&["charter", "edit", "--json"])
        .env_remove("VISUAL")
        .env("EDITOR", format!("sh {}", script.display()))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = "Charter\n\nArticle 1. Solidarity.\n\nArticle 2. Autonomy.\n";
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reply["text"], merged, "{reply}");
    assert_eq!(charter(&home), merged);
}
