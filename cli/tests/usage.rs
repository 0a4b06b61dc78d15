//! The binary's own usage behaviour. (Having an integration test here also
//! makes `cargo test --workspace` build the `entraide` binary that the
//! end-to-end tests in `tests/` drive.)

use std::process::Command;

fn entraide(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_entraide"))
        .args(args)
        .env_remove("ENTRAIDE_HOME")
        .output()
        .expect("run entraide")
}

#[test]
fn help_and_version_succeed() {
    let help = entraide(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["init", "alliance", "charter", "book", "serve", "join"] {
        assert!(text.contains(command), "--help does not mention {command}");
    }
    assert!(entraide(&["--version"]).status.success());
}

#[test]
fn unknown_commands_are_one_line_and_exit_2() {
    let out = entraide(&["teleport"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}
