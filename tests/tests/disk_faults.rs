//! A full disk and a read-only home: a write fails with a clear one-line
//! error, nothing acknowledged is lost, the store is never left damaged, and
//! once space is back the node works again.
//!
//! Each case runs in a private mount namespace (`unshare --mount`, as root,
//! which CI is) holding a small tmpfs: the mount disappears with the test's
//! processes, whatever happens, and nothing outside it is touched.

use std::process::Command;

use entraide_tests::binary;

/// Runs `script` with `sh` in a new mount namespace where `$D` is an empty
/// tmpfs of `size`, `$BIN` the entraide binary. Returns stdout.
fn in_small_disk(size: &str, script: &str) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let prelude = format!(
        "set -u\nmount -t tmpfs -o size={size},mode=0700 tmpfs \"$D\" || {{ echo 'MOUNT FAILED'; exit 90; }}\n"
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{prelude}{script}"))
        .env("D", dir.path())
        .env("BIN", binary())
        .env("ENTRAIDE_TZ", "Europe/Brussels")
        .env_remove("ENTRAIDE_HOME")
        .output()
        .expect("run unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code() != Some(90) && !stdout.contains("MOUNT FAILED"),
        "this test mounts a small tmpfs in its own mount namespace: run it as root \
         (CI does) or where unprivileged mount namespaces are allowed; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value printed after `label=` on its own line.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}=")))
        .unwrap_or_else(|| panic!("no {label}= in:\n{out}"))
}

/// The lines between `BEGIN label` and `END label`.
fn block<'a>(out: &'a str, label: &str) -> &'a str {
    let start = out
        .find(&format!("BEGIN {label}\n"))
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
        + label.len()
        + 7;
    let end = out[start..].find(&format!("END {label}")).expect("end") + start;
    &out[start..end]
}

fn assert_clear_error(stderr: &str, what: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line expected: {stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{what}: {stderr}"
    );
}

#[test]
fn a_full_disk_refuses_the_write_and_loses_nothing() {
    let out = in_small_disk(
        "16m",
        r#"
        H="$D/home"
        "$BIN" --home "$H" init --org "Asbl Un" >/dev/null || exit 91
        "$BIN" --home "$H" alliance create "Alliance" >/dev/null || exit 92
        "$BIN" --home "$H" resource add "Salle Verte" --kind room >/dev/null || exit 93
        B1=$("$BIN" --home "$H" book "Salle Verte" --from 2027-06-08T10:00 --to 2027-06-08T11:00) || exit 94
        echo "B1=$B1"
        # A library file that cannot fit once the disk is nearly full.
        head -c 3000000 /dev/urandom > "$D/big.bin"
        # Fill the disk, leaving (almost) nothing.
        cat /dev/zero > "$D/filler" 2>/dev/null
        # (Error messages go to files off the full disk.)
        E1=$(mktemp); E2=$(mktemp)
        "$BIN" --home "$H" library add "$D/big.bin" --title "Gros fichier" 2>"$E1"
        echo "ADD_EXIT=$?"
        echo "BEGIN err1"; cat "$E1"; echo "END err1"
        "$BIN" --home "$H" book "Salle Verte" --from 2027-06-09T10:00 --to 2027-06-09T11:00 >/dev/null 2>"$E2"
        echo "BOOK_EXIT=$?"
        echo "BEGIN err2"; cat "$E2"; echo "END err2"; rm -f "$E1" "$E2"
        # Space comes back.
        rm "$D/filler"
        "$BIN" --home "$H" status --json >/dev/null; echo "STATUS_EXIT=$?"
        echo "BEGIN bookings"; "$BIN" --home "$H" bookings --json; echo "END bookings"
        echo "BEGIN library"; "$BIN" --home "$H" library list --json; echo "END library"
        B2=$("$BIN" --home "$H" book "Salle Verte" --from 2027-06-10T10:00 --to 2027-06-10T11:00)
        echo "BOOK_AFTER_EXIT=$?"
        echo "B2=$B2"
        E=$("$BIN" --home "$H" library add "$D/big.bin" --title "Gros fichier")
        echo "ADD_AFTER_EXIT=$?"
        "$BIN" --home "$H" library get "$E" --out "$D/copy.bin" && cmp -s "$D/big.bin" "$D/copy.bin"
        echo "SAME_BYTES=$?"
        "#,
    );
    assert_eq!(field(&out, "ADD_EXIT"), "1", "{out}");
    let err1 = block(&out, "err1");
    assert_clear_error(err1, "library add on a full disk");
    assert!(err1.contains("disk space"), "says what to check: {err1}");
    // The booking may fit in what is left, or be refused as clearly.
    if field(&out, "BOOK_EXIT") != "0" {
        assert_clear_error(block(&out, "err2"), "book on a full disk");
    }
    assert_eq!(field(&out, "STATUS_EXIT"), "0", "the store opens: {out}");
    let bookings: serde_json::Value =
        serde_json::from_str(block(&out, "bookings")).expect("bookings json");
    let b1 = field(&out, "B1");
    assert!(
        bookings
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == b1 && b["status"] == "confirmed"),
        "the booking acknowledged before the disk filled is there: {bookings:#}"
    );
    let library: serde_json::Value =
        serde_json::from_str(block(&out, "library")).expect("library json");
    assert_eq!(
        library.as_array().unwrap().len(),
        0,
        "the refused file left no entry: {library:#}"
    );
    assert_eq!(field(&out, "BOOK_AFTER_EXIT"), "0", "{out}");
    assert_eq!(field(&out, "ADD_AFTER_EXIT"), "0", "{out}");
    assert_eq!(field(&out, "SAME_BYTES"), "0", "{out}");
}

#[test]
fn a_read_only_home_refuses_writes_clearly_answers_reads_and_stays_intact() {
    let out = in_small_disk(
        "16m",
        r#"
        H="$D/home"
        "$BIN" --home "$H" init --org "Asbl Un" >/dev/null || exit 91
        "$BIN" --home "$H" alliance create "Alliance" >/dev/null || exit 92
        "$BIN" --home "$H" values add "Solidarité" >/dev/null || exit 93
        sum_before=$(sha256sum "$H"/* | sha256sum)
        mount -o remount,ro "$D" || { echo 'MOUNT FAILED'; exit 90; }
        ERR=$(mktemp)
        "$BIN" --home "$H" values add "Respect" 2>"$ERR" >/dev/null
        echo "ADD_EXIT=$?"
        echo "BEGIN err"; cat "$ERR"; echo "END err"; rm -f "$ERR"
        echo "BEGIN ro_values"; "$BIN" --home "$H" values list --json; echo "END ro_values"
        sum_after=$(sha256sum "$H"/* | sha256sum)
        [ "$sum_before" = "$sum_after" ]; echo "UNCHANGED=$?"
        mount -o remount,rw "$D"
        echo "BEGIN values"; "$BIN" --home "$H" values list --json; echo "END values"
        "#,
    );
    // A command that only reads answers from the read-only home (a backup
    // on a read-only disk, say).
    let values: serde_json::Value = serde_json::from_str(block(&out, "ro_values")).expect("json");
    assert_eq!(values.as_array().map(Vec::len), Some(1), "{out}");
    assert_ne!(field(&out, "ADD_EXIT"), "0", "{out}");
    let err = block(&out, "err");
    assert_clear_error(err, "a write to a read-only home");
    assert!(
        err.contains("writable") || err.contains("read-only") || err.contains("permissions"),
        "says what to check: {err}"
    );
    assert_eq!(
        field(&out, "UNCHANGED"),
        "0",
        "the home's files are untouched"
    );
    let values: serde_json::Value = serde_json::from_str(block(&out, "values")).expect("json");
    let names: Vec<&str> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Solidarité"], "{values:#}");
}
