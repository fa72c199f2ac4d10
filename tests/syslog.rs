//! going's log through a real syslog datagram socket at /dev/log, in a
//! private mount namespace whose /dev holds only /dev/null and that socket.
mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Starts going with /dev/log pointing at a socket the test reads.
fn start_with_syslog(services: &[(&str, &str)]) -> (Going, UnixDatagram) {
    let work = TempDir::new("work");
    let socket = UnixDatagram::bind(work.join("log.sock")).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    std::fs::write(work.join("null"), "").unwrap();
    let work_path = work.path().display();
    let script = format!(
        "mount --bind /dev/null {work_path}/null && mount -t tmpfs tmpfs /dev && touch /dev/null \
         && mount --bind {work_path}/null /dev/null && ln -s {work_path}/log.sock /dev/log && exec \"$0\" \"$@\""
    );
    let launcher = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", &script];
    (Launch::new(&launcher, service_dir(services), work).spawn(), socket)
}

fn receive_until(socket: &UnixDatagram, text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    wait_for(&format!("a syslog line with {text:?}"), || {
        if let Ok(size) = socket.recv(&mut buffer) {
            seen.push(String::from_utf8_lossy(&buffer[..size]).into_owned());
        }
        seen.last().is_some_and(|line| line.contains(text)).then_some(())
    });
    seen
}

#[test]
fn lines_go_to_syslog_with_facility_daemon_ident_and_pid() {
    let (going, socket) = start_with_syslog(&[("sleeper", "cmd=/bin/sleep 1000\n"), ("bad", "oops\n")]);
    let lines = receive_until(&socket, "configuration: 1 added");
    let pid = going.pid();
    assert!(
        lines.contains(&format!(
            "<27>going[{pid}]: bad:1: expected key=value (not started; a running instance keeps running)"
        )),
        "{lines:?}"
    );
    let started = lines.iter().find(|line| line.contains("sleeper: started with pid")).unwrap();
    assert!(started.starts_with(&format!("<30>going[{pid}]: sleeper: started with pid ")), "{started}");
    assert!(!going.log().contains("started with pid"), "syslog lines must not also go to stderr");
}

#[test]
fn when_the_syslog_queue_is_full_lines_go_to_stderr_and_none_is_lost() {
    // More start lines than the kernel queues for an unread datagram socket.
    let queue: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen").unwrap().trim().parse().unwrap();
    let count = queue + 30;
    let services: Vec<(String, &str)> = (0..count).map(|i| (format!("s{i:04}"), "cmd=/bin/sleep 1000\n")).collect();
    let services: Vec<(&str, &str)> = services.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    // The test does not read yet: the socket's queue fills and going must not block.
    let (going, socket) = start_with_syslog(&services);
    going.wait_log(&format!("configuration: {count} added"));
    let mut buffer = [0u8; 4096];
    let mut in_syslog = 0;
    while let Ok(size) = socket.recv(&mut buffer) {
        in_syslog += String::from_utf8_lossy(&buffer[..size]).contains(": started with pid ") as usize;
    }
    let on_stderr = going.count_log(": started with pid ");
    assert!(in_syslog > 0 && on_stderr > 0, "syslog {in_syslog}, stderr {on_stderr}");
    assert_eq!(in_syslog + on_stderr, count);
}
