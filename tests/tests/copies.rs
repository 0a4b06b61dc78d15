//! A member's home copied with `cp -a` to a second computer while the first
//! goes on, with `entraide serve` processes on loopback: the original writes
//! while it meets only A, the copy while it meets only B; once A and B meet
//! again, everyone converges and keeps both edits, and each copy says what
//! happened in one line of `status`.

use entraide_tests::{Serve, TestHome, charter, cp_a, eventually, heads, join, set_charter};

#[test]
fn a_copied_home_and_its_original_converge_with_both_edits() {
    let a = TestHome::founded("Asbl A");
    let sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    // Restarted nodes listen where they did, as a laptop keeps its address
    // on the office network.
    let (a_addr, b_addr, c_addr) = (sa.addr.clone(), sb.addr.clone(), sc.addr.clone());
    set_charter(&a, "Charte\n\nArticle 1.\n");
    for home in [&b, &c] {
        eventually(15, "the first text reaches everyone", || {
            charter(home) == charter(&a)
        });
    }
    // C's home is copied to a new computer.
    sc.stop();
    let copy = TestHome::new();
    cp_a(&c, &copy);
    // The original meets only A.
    sb.stop();
    let sc = Serve::start_at(&c, &c_addr);
    set_charter(
        &c,
        "Charte\n\nArticle 1.\n\nArticle 2, from the old computer.\n",
    );
    eventually(15, "A gets the original's edit", || {
        charter(&a).contains("old computer")
    });
    sc.stop();
    // The copy meets only B.
    sa.stop();
    let _sb = Serve::start_at(&b, &b_addr);
    let s_copy = Serve::start_at(&copy, &c_addr);
    set_charter(
        &copy,
        "Charte\n\nArticle 1.\n\nArticle 2, from the new computer.\n",
    );
    eventually(15, "B gets the copy's edit", || {
        charter(&b).contains("new computer")
    });
    // A and B meet again: every running node ends with both edits.
    let _sa = Serve::start_at(&a, &a_addr);
    for home in [&a, &b, &copy] {
        eventually(20, "A, B and the copy converge", || {
            let text = charter(home);
            text.contains("old computer") && text.contains("new computer")
        });
    }
    s_copy.stop();
    let _sc = Serve::start_at(&c, &c_addr);
    eventually(20, "the original converges too", || {
        heads(&c, "charter") == heads(&a, "charter")
    });
    assert_eq!(heads(&a, "charter"), heads(&b, "charter"));
    assert_eq!(charter(&c), charter(&a));
    // Later edits still go through everywhere.
    set_charter(&b, &format!("{}\nArticle 3.\n", charter(&b)));
    eventually(15, "a later edit reaches the original", || {
        charter(&c).contains("Article 3.")
    });
    // Each copy says once what happened; the others say nothing.
    let status = c.ok(&["status"]).stdout;
    assert!(status.contains("another copy of this home"), "{status}");
    let status = copy.json(&["status"]);
    assert!(status["other_copy_seen"].is_string(), "{status}");
    let status = a.json(&["status"]);
    assert!(status["other_copy_seen"].is_null(), "{status}");
}
