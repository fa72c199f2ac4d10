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
fn the_container_example_starts_db_then_the_migration_then_the_app() {
    let example =
        |name: &str| fs::read_to_string(format!("{}/examples/container.d/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let files: Vec<(&str, String)> = ["db", "migrate", "app", "worker"].map(|name| (name, example(name))).into();
    let files: Vec<(&str, &str)> = files.iter().map(|(name, text)| (*name, text.as_str())).collect();
    let going = Going::start(&files);
    going.wait_state("migrate", "done");
    going.wait_state("app", "up");
    assert_eq!(going.count_log("going: migrate: started"), 1);
    let log = going.log();
    let at = |text: &str| log.find(text).unwrap_or_else(|| panic!("{text:?} not in {log}"));
    assert!(at("going: db: ready (fd)") < at("going: migrate: started"), "{log}");
    assert!(at("going: migrate: exited with status 0") < at("going: app: started"), "{log}");
}
