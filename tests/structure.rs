//! The rooms' import graph: the runtime room imports nothing above it, and
//! no two rooms import each other, directly or through others.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

/// Each room of the library and the rooms its code (not its comments, not its unit tests) uses.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let room = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut uses = BTreeSet::new();
        for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != room && !name.is_empty() {
                    uses.insert(name);
                }
            }
        }
        graph.insert(room, uses);
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
