//! `goingctl log`: the last lines of a service's log file, reaching back
//! into the rotated one, following it with -f across rotation and
//! truncation, a Procfile app's processes prefixed, and a clear word for
//! services whose output goes elsewhere.
mod common;

use common::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// The message of each line, without going's timestamp.
fn messages(text: &str) -> Vec<String> {
    text.lines().map(|line| line.split_once(' ').map_or(line, |(_, message)| message).to_owned()).collect()
}

#[test]
fn the_last_lines_reach_back_into_the_rotated_file() {
    let work = TempDir::new("logs");
    let log = work.join("web.log");
    fs::write(work.join("web.log.1"), "2026-11-30T00:00:00.000Z old 1\n2026-11-30T00:00:00.000Z old 2\n").unwrap();
    let service =
        format!("cmd=/bin/sh -c 'for i in 1 2 3; do echo new $i; done; exec sleep 1000'\nlog={}\n", log.display());
    let going = Going::start(&[("web", &service)]);
    wait_for("three lines", || (fs::read_to_string(&log).ok()?.lines().count() == 3).then_some(()));
    let (code, out, _) = going.goingctl(&["log", "-n", "4", "web"]);
    assert_eq!((code, messages(&out)), (0, ["old 2", "new 1", "new 2", "new 3"].map(String::from).to_vec()));
    let (code, out, _) = going.goingctl(&["log", "web"]);
    assert_eq!((code, messages(&out).len()), (0, 5), "20 lines by default, all there are");
}

#[test]
fn follow_keeps_going_across_rotation_and_truncation() {
    let work = TempDir::new("logs");
    let log = work.join("counter.log");
    // Numbered lines fast enough to rotate a 4 KiB log about every second.
    let service = format!(
        "cmd=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done'\nlog={}\nlog_size=4096\nlog_keep=2\n",
        log.display()
    );
    let going = Going::start(&[("counter", &service)]);
    wait_for("the log", || log.exists().then_some(()));
    let mut follower = Command::new(GOINGCTL)
        .arg("-r")
        .arg(going.run_dir())
        .args(["log", "-n", "1", "-f", "counter"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, read) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let number = |line: &str| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    let next = || read.recv_timeout(DEADLINE).expect("goingctl log -f stopped writing");
    let first = number(&next());
    // Every number in order, none lost or doubled, across at least three rotations.
    let mut expected = first + 1;
    while fs::metadata(log.with_extension("log.2")).is_err() || expected < first + 300 {
        let line = next();
        assert_eq!(number(&line), expected, "{line}");
        expected += 1;
    }
    // copytruncate: the file is emptied in place; going appends at its new end.
    fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    let truncated_at = expected;
    while expected < truncated_at + 100 {
        let got = number(&next());
        assert!(got >= expected, "went back from {expected} to {got}");
        expected = got + 1;
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn a_procfile_app_shows_each_process_type_prefixed() {
    let going = Going::start(&[]);
    let dir = going.work.join("app");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("Procfile"), "web: echo serving; exec sleep 1000\nworker: echo working; exec sleep 1000\n")
        .unwrap();
    fs::set_permissions(dir.join("Procfile"), fs::Permissions::from_mode(0o644)).unwrap();
    let logs = going.work.join("logs");
    fs::create_dir(&logs).unwrap();
    let text = format!("procfile={}/Procfile\nlog={}/app.log\n", dir.display(), logs.display());
    write_service(going.services.path(), "shop", &text);
    going.reload();
    wait_for("both logs", || {
        let read = |name: &str| fs::read_to_string(logs.join(name)).unwrap_or_default();
        (!read("app.web.log").is_empty() && !read("app.worker.log").is_empty()).then_some(())
    });
    let (code, out, _) = going.goingctl(&["log", "shop"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|line| line.starts_with("web | ") && line.ends_with(" serving")), "{out}");
    assert!(out.lines().any(|line| line.starts_with("worker | ") && line.ends_with(" working")), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, out, _) = going.goingctl(&["log", "shop.web"]);
    assert_eq!((code, messages(&out)), (0, vec!["serving".to_string()]));
}

#[test]
fn without_a_log_file_it_says_where_the_output_goes() {
    let going = Going::start(&[("quiet", "cmd=/bin/sleep 1000\n"), ("loud", "cmd=/bin/sleep 1000\nlog=-\n")]);
    going.wait_state("loud", "up");
    let (code, _, error) = going.goingctl(&["log", "quiet"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: quiet: its output goes to /dev/null (no log= in its file)\n"));
    let (code, _, error) = going.goingctl(&["log", "loud"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: loud: its output goes to going's stdout (log=-)\n"));
    assert_eq!(going.goingctl(&["log", "nothere"]).0, 1);
    assert_eq!(going.goingctl(&["log"]).0, 64);
}

#[test]
fn status_of_one_service_shows_its_file_command_user_log_and_last_lines() {
    let work = TempDir::new("logs");
    let log = work.join("web.log");
    let service = format!(
        "cmd=/bin/sh -c 'for i in 1 2 3 4 5 6 7; do echo line $i; done; exec sleep 1000'\nuser=nobody\nlog={}\n",
        log.display()
    );
    let going = Going::start(&[("web", &service)]);
    wait_for("seven lines", || (fs::read_to_string(&log).ok()?.lines().count() == 7).then_some(()));
    going.wait_state("web", "up");
    let (code, detail, _) = going.goingctl(&["status", "web"]);
    assert_eq!(code, 0, "{detail}");
    let file = going.services.join("web");
    for field in [
        format!("file: {}", file.display()),
        "cmd: /bin/sh -c 'for i in 1 2 3 4 5 6 7; do echo line $i; done; exec sleep 1000'".to_string(),
        "user: nobody".into(),
        format!("log: {}", log.display()),
        "state: up".into(),
    ] {
        assert!(detail.lines().any(|line| line.trim_start() == field), "{field} not in:\n{detail}");
    }
    let shown: Vec<&str> = detail.lines().filter(|line| line.trim_start().starts_with("20")).collect();
    assert_eq!(shown.len(), 5, "the last 5 log lines:\n{detail}");
    assert!(shown[4].ends_with(" line 7"), "{detail}");
    let (_, json, _) = going.goingctl(&["status", "--json"]);
    let expected = format!("\"file\":\"{}\",\"cmd\":\"/bin/sh -c 'for i in", file.display());
    assert!(json.contains(&expected) && json.contains(&format!("\"log\":\"{}\"", log.display())), "{json}");
}

#[test]
fn a_log_file_the_user_may_not_read_is_refused_with_77() {
    let work = TempDir::new("logs");
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let log = work.join("secret.log");
    let service = format!("cmd=/bin/sh -c 'echo secret; exec sleep 1000'\nlog={}\n", log.display());
    let going = Going::start(&[("secret", &service)]);
    wait_for("the log", || (!fs::read_to_string(&log).ok()?.is_empty()).then_some(()));
    // going creates log files 0640 for its own user (root here).
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", GOINGCTL, "-r"])
        .arg(going.run_dir())
        .args(["log", "secret"])
        .output()
        .unwrap();
    let error = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(77), "{error}");
    assert_eq!(
        error,
        format!("goingctl: {}: permission denied; whoever may read the log file may read it here\n", log.display())
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn control_characters_of_a_log_are_escaped_on_a_terminal_and_kept_in_a_pipe() {
    let work = TempDir::new("logs");
    let log = work.join("noisy.log");
    let service = format!(
        "cmd=/bin/sh -c 'printf \"\\033]0;TITLE\\007\\033[2Jhi\\tthere\\n\"; exec sleep 1000'\nlog={}\n",
        log.display()
    );
    let going = Going::start(&[("noisy", &service)]);
    wait_for("the line", || fs::read_to_string(&log).ok()?.contains("there").then_some(()));
    // To a pipe, the bytes as written.
    let piped = Command::new(GOINGCTL).arg("-r").arg(going.run_dir()).args(["log", "noisy"]).output().unwrap();
    assert!(piped.stdout.windows(9).any(|bytes| bytes == b"\x1b]0;TITLE"), "{:?}", piped.stdout);
    // To a terminal (script(1) gives goingctl one), escaped: nothing reaches the reader's terminal raw.
    let command = format!("{GOINGCTL} -r {} log noisy", going.run_dir().display());
    let shown = Command::new("script").args(["-qec", &command, "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("\\x1b]0;TITLE\\x07\\x1b[2Jhi\tthere"), "{text:?}");
    assert!(!shown.stdout.contains(&0x1b) && !shown.stdout.contains(&0x07), "{text:?}");
}
