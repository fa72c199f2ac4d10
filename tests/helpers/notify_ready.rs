//! A static sd_notify sender for tests that run a service where nothing
//! else is (a `chroot=` holding only this program): sends `READY=1` to
//! `NOTIFY_SOCKET` (`@name` for the abstract namespace), then sleeps.
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

fn main() {
    let address = std::env::var("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    let target = match address.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name).unwrap(),
        None => SocketAddr::from_pathname(&address).unwrap(),
    };
    UnixDatagram::unbound().unwrap().send_to_addr(b"READY=1", &target).unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1000));
    }
}
