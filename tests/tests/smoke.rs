use entraide_tests::TestHome;

#[test]
fn init_prints_the_device_id_and_refuses_twice() {
    let home = TestHome::new();
    let run = home.ok(&["init", "--org", "Asbl Un"]);
    assert_eq!(run.stdout.trim().len(), 64);
    home.fails(&["init", "--org", "Asbl Un"], 2);
}
