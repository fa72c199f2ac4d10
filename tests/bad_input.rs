//! Hostile and broken service files, each with its exact documented outcome,
//! all in one directory beside a valid service that must keep running.
mod common;

use common::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;

/// What going must do with one entry of the directory.
enum Outcome {
    /// This error line is logged and nothing starts.
    Error(&'static str),
    /// It is a valid service and starts.
    Starts,
    /// Not a service at all: no log line names it, nothing starts.
    Ignored,
}

/// Writes a service file (mode 0644) and records what must become of it.
fn write_case(dir: &std::path::Path, cases: &mut Vec<(String, Outcome)>, name: &str, bytes: &[u8], outcome: Outcome) {
    fs::write(dir.join(name), bytes).unwrap();
    fs::set_permissions(dir.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    cases.push((name.to_owned(), outcome));
}

#[test]
fn every_bad_input_has_its_documented_outcome() {
    let going = Going::start(&[("good", "cmd=/bin/sleep 1000\n")]);
    let dir = going.services.path().to_owned();
    let good = going.service_pid("good", 1);
    let mut cases: Vec<(String, Outcome)> = Vec::new();
    write_case(
        &dir,
        &mut cases,
        "latin1",
        b"cmd=/bin/sleep 1000\n# caf\xE9\n",
        Outcome::Error("latin1:2: not valid UTF-8; save the file as UTF-8"),
    );
    write_case(&dir, &mut cases, "nul", b"cmd=/bin/sleep\x00 1000\n", Outcome::Error("nul:1: contains a NUL byte"));
    write_case(&dir, &mut cases, "crlf", b"cmd=/bin/sleep 1000\r\ncwd=/\r\n", Outcome::Starts);
    let mut huge = b"cmd=/bin/sleep 1000\n".to_vec();
    huge.resize(64 * 1024 + 1, b'#');
    write_case(&dir, &mut cases, "huge", &huge, Outcome::Error("huge: file is larger than 65536 bytes"));
    let mut env = "cmd=/bin/sleep 1000\n".to_owned();
    (0..1000).for_each(|i| env.push_str(&format!("env=VAR{i}=value{i}\n")));
    write_case(&dir, &mut cases, "thousand-env", env.as_bytes(), Outcome::Starts);
    let long_name = "n".repeat(255);
    write_case(&dir, &mut cases, &long_name, b"cmd=/bin/sleep 1000\n", Outcome::Starts);
    let words = format!("cmd=/bin/sh -c 'exec sleep 1000' sh{}\n", " w".repeat(10_000));
    write_case(&dir, &mut cases, "many-words", words.as_bytes(), Outcome::Starts);

    fs::create_dir(dir.join("subdir")).unwrap();
    cases.push(("subdir".into(), Outcome::Ignored));
    assert!(std::process::Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    cases.push(("fifo".into(), Outcome::Ignored));
    std::os::unix::fs::symlink("loop-b", dir.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", dir.join("loop-b")).unwrap();
    cases.push(("loop-a".into(), Outcome::Error("loop-a: cannot open: Too many levels of symbolic links")));
    let foreign = going.work.join("foreign");
    fs::write(&foreign, "cmd=/bin/sleep 1000\n").unwrap();
    std::os::unix::fs::chown(&foreign, Some(4321), None).unwrap();
    std::os::unix::fs::symlink(&foreign, dir.join("foreign-link")).unwrap();
    let refusal = "foreign-link: refused: owned by uid 4321, not by root or going's user; chown it to root";
    cases.push(("foreign-link".into(), Outcome::Error(refusal)));
    let bad_name = std::ffi::OsStr::from_bytes(b"bad\xFFname");
    fs::write(dir.join(bad_name), "cmd=/bin/sleep 1000\n").unwrap();
    cases.push(("bad\u{FFFD}name".into(), Outcome::Error("bad\u{FFFD}name: file name is not valid UTF-8; rename it")));

    going.reload();
    for (name, outcome) in &cases {
        match outcome {
            Outcome::Error(line) => going.wait_log(&format!("going: {line}")),
            Outcome::Starts => drop(going.service_pid(name, 1)),
            Outcome::Ignored => {}
        }
    }
    let log = going.log();
    for (name, outcome) in &cases {
        let started = log.contains(&format!("going: {name}: started"));
        assert_eq!(started, matches!(outcome, Outcome::Starts), "{name}: {log}");
        if matches!(outcome, Outcome::Ignored) {
            assert!(!log.contains(&format!("going: {name}")), "{name} must not be mentioned: {log}");
        }
    }
    let words = going.service_pid("many-words", 1);
    wait_exec(words, "sleep");
    let env = going.service_pid("thousand-env", 1);
    wait_exec(env, "sleep");
    assert_eq!(
        fs::read(format!("/proc/{env}/environ")).unwrap().split(|&b| b == 0).filter(|v| !v.is_empty()).count(),
        1001
    );
    assert!(is_alive(good) && going.count_log("going: good: started") == 1);
}
