//! `listen=` on the real binary: going binds, holds and hands over sockets
//! with systemd's protocol; a client sees no refused connection while the
//! server is killed again and again; `user=nobody` serves port 80's kind;
//! order, ownership and mode; refusals at their line; moves and removal.
mod common;

use common::*;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port below 1024 that nothing listens on now (the tests run as root).
fn free_low_port() -> u16 {
    (900..1000).find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok()).expect("a free port below 1024")
}

/// A server in Python that checks systemd's variables, then answers every connection on
/// descriptor 3 with its pid, its uid, and what it was given.
const SERVER: &str = "cmd=/usr/bin/python3 -c 'import os, socket; \
     assert os.environ[\"LISTEN_PID\"] == str(os.getpid()), os.environ; \
     n = int(os.environ[\"LISTEN_FDS\"]); names = os.environ[\"LISTEN_FDNAMES\"]; \
     where = \" \".join(str(socket.socket(fileno=os.dup(3 + i)).getsockname()) for i in range(n)); s = socket.socket(fileno=3); \
     [(lambda c: (c.sendall((\"%d %d %d %s %s\\n\" % (os.getpid(), os.getuid(), n, names, where)).encode()), c.close()))(s.accept()[0]) for _ in iter(int, 1)]'\n";

/// The answer of the server at `port`: one line.
fn ask(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(DEADLINE))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err_and(|error| error.kind() == ErrorKind::ConnectionRefused)
}

#[test]
fn a_server_gets_its_socket_as_descriptor_3_and_no_connection_is_refused_while_it_is_killed() {
    let port = free_port();
    let text = format!("{SERVER}listen=tcp:127.0.0.1:{port}\ncheck=/bin/sh -c 'test -z \"$LISTEN_FDS\"'\n");
    let going = Going::start(&[("web", &text)]);
    let first = going.service_pid("web", 1);
    let answer = wait_for("an answer", || ask(port).ok());
    let words: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(words[..4], [first.to_string().as_str(), "0", "1", "web"], "{answer}");
    wait_for("a passing check, which gets no socket", || {
        going.status_key("web", "health").filter(|health| health == "healthy")
    });
    assert_eq!(going.status_key("web", "listen").unwrap(), format!("tcp:127.0.0.1:{port}"));
    let (_, json, _) = going.goingctl(&["status", "--json", "web"]);
    assert!(json.contains(&format!("\"listen\":[\"tcp:127.0.0.1:{port}\"]")), "{json}");

    // A client connects every 10 ms while the server is killed three times.
    let (stop, refusals, failures) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let answered_by = Arc::new(Mutex::new(Vec::<i32>::new()));
    let client = {
        let (stop, refusals, failures, answered_by) =
            (stop.clone(), refusals.clone(), failures.clone(), answered_by.clone());
        std::thread::spawn(move || {
            let mut waiting = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match TcpStream::connect(("127.0.0.1", port)) {
                    Ok(stream) => waiting.push(std::thread::spawn(move || {
                        let mut stream = stream;
                        stream.set_read_timeout(Some(DEADLINE)).unwrap();
                        let mut answer = String::new();
                        stream.read_to_string(&mut answer).map(|_| answer)
                    })),
                    Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                        refusals.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => _ = failures.fetch_add(1, Ordering::SeqCst),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            for waiter in waiting {
                match waiter.join().unwrap() {
                    Ok(answer) if !answer.is_empty() => {
                        answered_by.lock().unwrap().extend(answer_pid(&answer));
                    }
                    _ => _ = failures.fetch_add(1, Ordering::SeqCst),
                }
            }
        })
    };
    for kill in 1..=3 {
        let pid = going.service_pid("web", kill);
        wait_for("an answer from this run", || ask(port).ok().filter(|answer| answer_pid(answer) == Some(pid)));
        signal_pid(pid, rustix::process::Signal::KILL);
    }
    let last = going.service_pid("web", 4);
    wait_for("an answer from the last run", || ask(port).ok().filter(|answer| answer_pid(answer) == Some(last)));
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    assert_eq!(refusals.load(Ordering::SeqCst), 0, "connections refused while the server was down");
    // The server answers one connection at a time: a kill loses at most the one it has accepted.
    assert!(failures.load(Ordering::SeqCst) <= 3, "connections that got no answer: {failures:?}");
    let answered_by = answered_by.lock().unwrap();
    assert!(answered_by.contains(&last), "connections made during a backoff were answered by the next run");

    // Down, connections wait in the backlog; up, they are answered.
    assert_eq!(going.goingctl(&["down", "web"]).0, 0);
    going.wait_state("web", "down");
    let waiting = std::thread::spawn(move || ask(port));
    assert_eq!(going.goingctl(&["up", "web"]).0, 0);
    let answer = waiting.join().unwrap().expect("the waiting connection is answered after up");
    assert_eq!(answer_pid(&answer), Some(going.service_pid("web", 5)));
}

fn answer_pid(answer: &str) -> Option<i32> {
    answer.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_service_of_nobody_serves_a_port_below_1024_and_gets_its_sockets_in_order() {
    let (port, sockets) = (free_low_port(), TempDir::new("sockets"));
    let path = sockets.join("web.sock");
    let text = format!("{SERVER}user=nobody\nlisten=tcp:127.0.0.1:{port}\nlisten=unix:{}\n", path.display());
    let going = Going::start(&[("web", &text)]);
    let answer = wait_for("an answer", || ask(port).ok());
    let words: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(words[1..4], ["65534", "2", "web:web"], "{answer}");
    assert!(answer.contains(&format!("('127.0.0.1', {port}) {}", path.display())), "{answer}");
    let stat = fs::symlink_metadata(&path).unwrap();
    assert!(stat.file_type().is_socket());
    assert_eq!((stat.uid(), stat.gid(), stat.mode() & 0o777), (65534, 65534, 0o660));
    UnixStream::connect(&path).unwrap();
    // Removing the file closes both: the port refuses, the socket file is gone.
    fs::remove_file(going.services.join("web")).unwrap();
    wait_for("the port to close", || refused(port).then_some(()));
    wait_for("the socket file to go", || (!path.exists()).then_some(()));
}

#[test]
fn an_address_in_use_is_refused_at_its_line_and_nothing_else_is_harmed() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let port = free_port();
    let going = Going::start(&[
        ("db", "cmd=/bin/sleep 1000\n"),
        ("web", &format!("cmd=/bin/sleep 1000\nlisten=tcp:127.0.0.1:{taken_port}\n")),
        ("api", &format!("{SERVER}listen=tcp:127.0.0.1:{port}\n")),
    ]);
    let db = going.service_pid("db", 1);
    going.wait_state("web", "error");
    let error = going.status_key("web", "error").unwrap();
    assert_eq!(error, format!("web:2: listen=tcp:127.0.0.1:{taken_port}: Address already in use"));
    let api = answer_pid(&wait_for("api's answer", || ask(port).ok())).unwrap();

    // A change that cannot have its new address leaves api and its socket as they were.
    let text = format!("{SERVER}listen=tcp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{taken_port}\n");
    write_service(going.services.path(), "api", &text);
    wait_for("the refusal", || going.status_key("api", "error"));
    assert_eq!(answer_pid(&ask(port).unwrap()), Some(api));
    assert!(is_alive(db));

    // Another service's address is refused too, by name.
    write_service(going.services.path(), "copy", &format!("cmd=/bin/sleep 1000\nlisten=tcp:127.0.0.1:{port}\n"));
    going.wait_state("copy", "error");
    let error = going.status_key("copy", "error").unwrap();
    assert!(error.ends_with("service api listens there already"), "{error}");
    drop(taken);
}

#[test]
fn a_changed_listen_moves_the_service_to_the_new_port() {
    let (old, new) = (free_port(), free_port());
    let going = Going::start(&[("web", &format!("{SERVER}listen=tcp:127.0.0.1:{old}\n"))]);
    let first = answer_pid(&wait_for("an answer on the old port", || ask(old).ok())).unwrap();
    write_service(going.services.path(), "web", &format!("{SERVER}listen=tcp:127.0.0.1:{new}\n"));
    let second = answer_pid(&wait_for("an answer on the new port", || ask(new).ok())).unwrap();
    assert_ne!(first, second);
    wait_for("the old port to close", || refused(old).then_some(()));
    // A change that leaves listen= as it was keeps the socket: no connection is refused.
    let probe = std::thread::spawn(move || (0..50).all(|_| !refused(new)));
    write_service(going.services.path(), "web", &format!("{SERVER}env=A=1\nlisten=tcp:127.0.0.1:{new}\n"));
    going.service_pid("web", 3);
    assert!(probe.join().unwrap());
}

#[test]
fn a_unix_socket_replaces_only_a_stale_socket_and_needs_its_directory() {
    let sockets = TempDir::new("sockets");
    let (stale, plain) = (sockets.join("stale.sock"), sockets.join("plain"));
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    fs::write(&plain, "keep me").unwrap();
    let missing = sockets.join("nope/web.sock");
    let going = Going::start(&[
        ("stale", &format!("cmd=/bin/sleep 1000\nlisten=unix:{}\n", stale.display())),
        ("plain", &format!("cmd=/bin/sleep 1000\nlisten=unix:{}\n", plain.display())),
        ("missing", &format!("cmd=/bin/sleep 1000\nlisten=unix:{}\n", missing.display())),
    ]);
    going.wait_state("stale", "up");
    UnixStream::connect(&stale).unwrap().shutdown(Shutdown::Both).unwrap();
    going.wait_state("plain", "error");
    assert!(
        going
            .status_key("plain", "error")
            .unwrap()
            .ends_with("exists and is not a socket; going replaces only a socket")
    );
    assert_eq!(fs::read_to_string(&plain).unwrap(), "keep me");
    going.wait_state("missing", "error");
    let error = going.status_key("missing", "error").unwrap();
    assert!(error.contains(&format!("directory {} does not exist", sockets.join("nope").display())), "{error}");
    let mut stream = UnixStream::connect(&stale).unwrap();
    let _ = stream.write_all(b"x");
}

#[test]
fn every_address_takes_ipv4_and_ipv6_on_one_socket_and_a_bracketed_host_is_ipv6() {
    let port = free_port();
    let going = Going::start(&[("web", &format!("{SERVER}listen=tcp:*:{port}\n"))]);
    wait_for("an answer over IPv4", || ask(port).ok());
    let ipv6 = TcpListener::bind("[::1]:0").is_ok();
    if ipv6 {
        let mut stream = TcpStream::connect(("::1", port)).expect("the same socket over IPv6");
        let mut answer = String::new();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.contains("('::', "), "one dual-stack socket: {answer}");
        let v6 = free_port();
        write_service(going.services.path(), "v6", &format!("{SERVER}listen=tcp:[::1]:{v6}\n"));
        let mut answer = String::new();
        wait_for("an answer on [::1]", || TcpStream::connect(("::1", v6)).ok()).read_to_string(&mut answer).unwrap();
        assert!(answer.contains("('::1', "), "{answer}");
        assert!(refused(v6), "not on IPv4");
    }
}
