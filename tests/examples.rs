//! The example service directories shipped with going are valid, and the
//! container example's one-shot ends as done.
mod common;

use common::*;
use std::fs;

#[test]
fn every_example_service_file_parses() {
    for dir in ["examples/going.d", "examples/container.d"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let parsed = going::config::parse(&fs::read(&path).unwrap());
            assert!(parsed.is_ok(), "{}: {:?}", path.display(), parsed.err());
        }
    }
}

#[test]
fn the_container_examples_migration_runs_once_and_is_done() {
    let text = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/container.d/migrate")).unwrap();
    let going = Going::start(&[("migrate", &text)]);
    wait_for("the migration to be done", || {
        let status = fs::read_to_string(going.run_dir().join("migrate")).ok()?;
        status.starts_with("state=done\n").then_some(())
    });
    assert_eq!(going.count_log("going: migrate: started"), 1);
}
