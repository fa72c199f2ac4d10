//! Readiness and start order on the real binary: ready=fd:N, ready=notify
//! with a real sd_notify sender, after= chains, diamonds, cycles and missing
//! names, the stop order at SIGTERM, and goingctl wait.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A FIFO the test writes to when a service may go on.
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Opens the FIFO for writing (blocks until the service reads it) and writes a line.
fn release(path: &Path) {
    fs::write(path, "go\n").unwrap();
}

/// A service that waits on `gate`, then writes a newline to descriptor 3 and sleeps.
fn ready_on_fd(gate: &Path) -> String {
    format!("cmd=/bin/sh -c 'read x < {}; echo >&3; exec sleep 1000'\nready=fd:3\n", gate.display())
}

#[test]
fn ready_fd_is_starting_until_the_newline_then_up() {
    let work = TempDir::new("gates");
    let gate = work.join("db");
    fifo(&gate);
    let going = Going::start(&[("db", &ready_on_fd(&gate))]);
    going.wait_state("db", "starting");
    assert_eq!(going.status_key("db", "ready_mono"), None);
    let (code, table, _) = going.goingctl(&["status"]);
    assert_eq!(code, 0);
    assert!(table.lines().any(|line| line.starts_with("db ") && line.contains(" starting ")), "{table}");
    release(&gate);
    going.wait_state("db", "up");
    going.wait_log("db: ready (fd) after ");
    let since: u64 = going.status_key("db", "since_mono").unwrap().parse().unwrap();
    let ready: u64 = going.status_key("db", "ready_mono").unwrap().parse().unwrap();
    assert!(ready >= since, "ready {ready} before the start {since}");
    let (code, json, _) = going.goingctl(&["status", "--json"]);
    assert_eq!(code, 0);
    assert!(json.contains("\"ready_seconds\":") && !json.contains("\"ready_seconds\":null"), "{json}");
}

#[test]
fn a_readiness_descriptor_closed_without_a_newline_is_told_once_and_not_ready() {
    let going = Going::start(&[("quiet", "cmd=/bin/sh -c 'exec 3>&-; exec sleep 1000'\nready=fd:3\n")]);
    going.wait_log(
        "quiet: closed its readiness descriptor 3 without writing a newline; not ready until it starts again",
    );
    going.wait_state("quiet", "starting");
    assert_eq!(going.count_log("closed its readiness descriptor"), 1);
}

/// A Python sd_notify sender: the address from NOTIFY_SOCKET (`@` for the abstract
/// namespace), each datagram a line of `messages` sent once `gate` is read.
fn notifier(gate: &Path, messages: &[&str]) -> String {
    let sends: String = messages.iter().map(|m| format!("s.sendto(b\"{m}\", a); ")).collect();
    let script = format!(
        "import os, socket; a = os.environ[\"NOTIFY_SOCKET\"]; a = \"\\0\" + a[1:] if a[0] == \"@\" else a; \
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); open(\"{}\").read(); {sends}\
         os.execv(\"/bin/sleep\", [\"sleep\", \"1000\"])",
        gate.display()
    );
    format!("cmd=/usr/bin/python3 -c '{script}'\nready=notify\n")
}

/// The NOTIFY_SOCKET a service was given, from its environment once it has exec'd
/// (before, /proc shows going's own).
fn notify_socket_of(pid: i32) -> String {
    wait_for("the service's exec", || {
        let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
        let entry = environ.split(|&b| b == 0).find_map(|entry| entry.strip_prefix(b"NOTIFY_SOCKET="))?;
        Some(String::from_utf8(entry.to_vec()).unwrap())
    })
}

/// Sends one datagram to an abstract `@name` address from this (test) process.
fn send_from_outside(address: &str, message: &[u8]) {
    use std::os::linux::net::SocketAddrExt;
    let name = address.strip_prefix('@').expect("an abstract address");
    let target = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    let socket = std::os::unix::net::UnixDatagram::unbound().unwrap();
    socket.send_to_addr(message, &target).unwrap();
}

#[test]
fn ready_notify_counts_ready_from_the_service_and_ignores_anyone_else() {
    let work = TempDir::new("gates");
    let gate = work.join("db");
    let status_gate = work.join("status");
    fifo(&gate);
    fifo(&status_gate);
    let going = Going::start(&[
        ("db", &notifier(&gate, &["STATUS=replaying the journal\\nREADY=1"])),
        ("slow", &notifier(&status_gate, &["STATUS=still loading"])),
    ]);
    let slow = going.service_pid("slow", 1);
    let address = notify_socket_of(slow);
    // The test is no process of any service: its READY=1 for anyone is ignored.
    send_from_outside(&address, b"READY=1");
    send_from_outside(&address, &[b'x'; 70_000][..]);
    // One socket, one queue: once slow's STATUS= is seen, the outsider's datagram was read before it.
    release(&status_gate);
    wait_for("slow's STATUS=", || (going.status_key("slow", "status_text")? == "still loading").then_some(()));
    assert_eq!(going.status_key("slow", "state").unwrap(), "starting");
    release(&gate);
    going.wait_state("db", "up");
    assert_eq!(going.status_key("db", "status_text").unwrap(), "replaying the journal");
    going.wait_log("db: ready (notify) after ");
    let (_, table, _) = going.goingctl(&["status"]);
    assert!(table.lines().any(|line| line.starts_with("slow ") && line.ends_with("still loading")), "{table}");
    let (_, json, _) = going.goingctl(&["status", "--json"]);
    assert!(json.contains("\"status_text\":\"replaying the journal\""), "{json}");
}

#[test]
fn a_notify_service_in_a_chroot_reaches_the_socket() {
    // The jail holds one static program and nothing else: no path to going's run directory.
    let jail = jail_with("notify_ready");
    let text = format!("cmd=/notify_ready\nchroot={}\nready=notify\n", jail.path().display());
    let going = Going::start(&[("jailed", &text)]);
    going.wait_state("jailed", "up");
    going.wait_log("jailed: ready (notify) after ");
}

#[test]
fn a_chain_and_a_diamond_start_in_order_and_say_what_they_wait_for() {
    let work = TempDir::new("gates");
    let gate = work.join("db");
    fifo(&gate);
    let going = Going::start(&[
        ("db", &ready_on_fd(&gate)),
        ("api", "cmd=/bin/sleep 1000\nafter=db\n"),
        ("cache", "cmd=/bin/sleep 1000\nafter=db\n"),
        ("web", "cmd=/bin/sleep 1000\nafter=api cache\n"),
    ]);
    going.wait_state("db", "starting");
    for (name, waits) in [("api", "db"), ("cache", "db"), ("web", "api cache")] {
        going.wait_state(name, "waiting");
        assert_eq!(going.status_key(name, "waiting_for").unwrap(), waits);
    }
    let (_, table, _) = going.goingctl(&["status"]);
    assert!(table.lines().any(|line| line.starts_with("web ") && line.ends_with("waiting for api, cache")), "{table}");
    let (_, json, _) = going.goingctl(&["status", "--json"]);
    assert!(json.contains("\"waiting_for\":[\"api\",\"cache\"]"), "{json}");
    release(&gate);
    for name in ["db", "api", "cache", "web"] {
        going.wait_state(name, "up");
    }
    // Each started only after what it waits for: the order of the start lines says so.
    let log = going.log();
    let started = |name: &str| log.find(&format!("going: {name}: started with pid ")).unwrap();
    let ready_db = log.find("going: db: ready (fd)").unwrap();
    assert!(ready_db < started("api") && ready_db < started("cache"), "{log}");
    assert!(started("api") < started("web") && started("cache") < started("web"), "{log}");
}

#[test]
fn a_cycle_is_an_error_naming_it_and_starts_none_of_it() {
    let going = Going::start(&[
        ("a", "cmd=/bin/sleep 1000\n# first\nafter=b\n"),
        ("b", "cmd=/bin/sleep 1000\nafter=a\n"),
        ("c", "cmd=/bin/sleep 1000\n"),
    ]);
    going.wait_log("a:3: after= makes a cycle: a -> b -> a");
    going.wait_log("b:2: after= makes a cycle: b -> a -> b");
    going.wait_state("c", "up");
    assert_eq!(going.status_key("a", "state").unwrap(), "waiting");
    assert_eq!(going.count_log("started with pid"), 1);
}

#[test]
fn a_missing_dependency_is_waited_for_until_its_file_appears() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\nafter=db\n")]);
    going.wait_state("web", "waiting");
    going.wait_log("web: after=db: no such service; waiting for it");
    let (_, table, _) = going.goingctl(&["status"]);
    assert!(table.contains("waiting for db (no such service)"), "{table}");
    write_service(going.services.path(), "db", "cmd=/bin/sleep 1000\n");
    going.wait_state("db", "up");
    going.wait_state("web", "up");
}

#[test]
fn a_dependency_in_backoff_keeps_its_dependent_waiting() {
    // db exits before it is ever ready: backoff, again and again.
    let going =
        Going::start(&[("db", "cmd=/bin/sh -c 'exit 1'\nready=fd:3\n"), ("web", "cmd=/bin/sleep 1000\nafter=db\n")]);
    going.wait_state("db", "backoff");
    going.service_pid("db", 2);
    assert_eq!(going.status_key("web", "state").unwrap(), "waiting");
    assert_eq!(going.count_log("web: started"), 0);
}

#[test]
fn sigterm_stops_a_service_only_after_those_after_it() {
    let work = TempDir::new("order");
    let order = work.join("order");
    // Each says on SIGTERM that it stopped; web takes a while about it.
    let stopping = |name: &str, pause: &str| {
        let ready = work.join(name);
        format!(
            "cmd=/bin/sh -c 'trap \"sleep {pause}; echo {name} >> {order}; exit 0\" TERM; : > {ready}; while :; do sleep 0.05; done'\n",
            order = order.display(),
            ready = ready.display()
        )
    };
    let mut going = Going::start(&[
        ("db", &stopping("db", "0")),
        ("api", &format!("{}after=db\n", stopping("api", "0.2"))),
        ("web", &format!("{}after=api\n", stopping("web", "0.3"))),
    ]);
    for name in ["db", "api", "web"] {
        wait_for(&format!("{name}'s trap"), || work.join(name).exists().then_some(()));
    }
    going.signal(Signal::TERM);
    assert!(going.wait_exit().success());
    assert_eq!(fs::read_to_string(&order).unwrap(), "web\napi\ndb\n");
}

#[test]
fn goingctl_wait_returns_once_ready_and_fails_on_timeout_failure_and_no_going() {
    let work = TempDir::new("gates");
    let gate = work.join("db");
    fifo(&gate);
    let going = Going::start(&[
        ("db", &ready_on_fd(&gate)),
        ("migrate", "cmd=/bin/sh -c 'exit 4'\nrestart=never\n"),
        ("task", "cmd=/bin/true\nrestart=never\n"),
    ]);
    going.wait_state("db", "starting");
    let (code, _, error) = going.goingctl(&["wait", "-t", "0.3", "db"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: timed out after 0.3s waiting for db (starting)\n"));
    going.wait_state("migrate", "failed");
    let (code, _, error) = going.goingctl(&["wait", "migrate"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: migrate failed (exit 4)\n"));
    let (code, _, error) = going.goingctl(&["wait", "nothere"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: no service nothere\n"));
    // Waits without a timeout, woken by the status file: started first, released after.
    let waiter = Command::new(GOINGCTL).arg("-r").arg(going.run_dir()).args(["wait", "db", "task"]).spawn().unwrap();
    release(&gate);
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let mut going = going;
    going.stop();
    let (code, _, error) = going.goingctl(&["wait", "db"]);
    assert_eq!(code, 69, "{error}");
}

/// `going & goingctl wait LAST`: while going writes the status files of its first scan
/// (300 services here, the waited one last), a missing one is still to come, not unknown.
#[test]
fn goingctl_wait_right_after_going_starts_waits_for_statuses_still_to_come() {
    let names: Vec<String> = (0..300).map(|i| format!("s{i:03}")).collect();
    let services: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "cmd=/bin/sleep 1000\n")).collect();
    let going = Launch::new(&[], service_dir(&services), TempDir::new("work")).spawn();
    // 69 until going has taken its run directory's lock.
    let (code, _, error) = wait_for("goingctl to find going", || {
        let result = going.goingctl(&["wait", "-t", "20", "s299"]);
        (result.0 != 69).then_some(result)
    });
    assert_eq!((code, error.as_str()), (0, ""), "{}", going.log());
    let (code, _, error) = going.goingctl(&["wait", "-t", "20", "nothere"]);
    assert_eq!((code, error.as_str()), (1, "goingctl: no service nothere\n"));
}

/// going's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_flood_of_datagrams_from_no_service_costs_going_little_and_ready_still_gets_through() {
    let work = TempDir::new("gates");
    let (gate, address_gate) = (work.join("db"), work.join("slow"));
    fifo(&gate);
    fifo(&address_gate);
    let going = Going::start(&[
        ("db", &notifier(&gate, &["READY=1"])),
        ("slow", &notifier(&address_gate, &["STATUS=waiting"])),
    ]);
    let address = notify_socket_of(going.service_pid("slow", 1));
    // Four processes of nobody's, which belong to no service, send 4 KiB datagrams as fast as they can.
    let flood = format!(
        "import socket, time; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); end = time.time() + 60\n\
         while time.time() < end: s.sendto(b\"x\" * 4096, \"\\x00{}\")",
        &address[1..]
    );
    let mut flooders: Vec<std::process::Child> = (0..4)
        .map(|_| {
            let mut command = Command::new("setpriv");
            command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", &flood]);
            command.stdin(std::process::Stdio::null()).stderr(fs::File::create(work.join("flood.err")).unwrap());
            command.spawn().unwrap()
        })
        .collect();
    let window = std::time::Duration::from_secs(3);
    let (started, before) = (std::time::Instant::now(), cpu_ticks(going.pid()));
    release(&gate);
    going.wait_state("db", "up");
    let ready_after = started.elapsed();
    // The rest of the window measures what the flood costs going (ticks are 10 ms).
    std::thread::sleep(window.saturating_sub(started.elapsed()));
    let share = (cpu_ticks(going.pid()) - before) as f64 / 100.0 / started.elapsed().as_secs_f64();
    let flooding = flooders.iter_mut().all(|flooder| flooder.try_wait().unwrap().is_none());
    for flooder in &mut flooders {
        let _ = flooder.kill();
        let _ = flooder.wait();
    }
    eprintln!("under the flood: READY=1 seen after {ready_after:?}; going used {:.1} % of a core", share * 100.0);
    assert!(flooding, "the flood ran for the whole window: {}", fs::read_to_string(work.join("flood.err")).unwrap());
    // Bars: 10 % of a core and 100 ms (bench figures); the test allows for a busy machine.
    assert!(share < 0.3, "going used {:.0} % of a core under the flood", share * 100.0);
    assert!(ready_after < std::time::Duration::from_secs(1), "READY=1 took {ready_after:?}");
}
