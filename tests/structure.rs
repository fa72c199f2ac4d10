//! The rooms' import graph: the runtime room imports nothing above it, and
//! no two rooms import each other, directly or through others.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

/// The library's source files, each with its room: `src/NAME.rs`, and the rooms
/// inside a room (`src/supervisor/order.rs` is part of `supervisor`).
fn sources() -> Vec<(String, std::path::PathBuf)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap() {
        let path = entry.unwrap().path();
        let room = path.file_stem().unwrap().to_str().unwrap().to_owned();
        match path.is_dir() && room != "bin" {
            true => found.extend(fs::read_dir(&path).unwrap().map(|inner| (room.clone(), inner.unwrap().path()))),
            false => found.push((room, path)),
        }
    }
    found.retain(|(_, path)| path.extension().is_some_and(|extension| extension == "rs"));
    found
}

/// Each room of the library and the rooms its code (not its comments, not its unit tests) uses.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (room, path) in sources() {
        let text = fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let uses = graph.entry(room.clone()).or_default();
        for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != room && !name.is_empty() {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn the_runtime_room_imports_nothing_of_the_daemon() {
    assert_eq!(imports()["rt"], BTreeSet::new());
}

#[test]
fn no_room_depends_on_itself_through_others() {
    let graph = imports();
    for start in graph.keys() {
        let mut reached = BTreeSet::new();
        let mut next: Vec<&String> = graph[start].iter().collect();
        while let Some(room) = next.pop() {
            assert_ne!(room, start, "{start} imports itself through {reached:?}");
            if reached.insert(room.clone()) {
                next.extend(graph.get(room).into_iter().flatten());
            }
        }
    }
}
