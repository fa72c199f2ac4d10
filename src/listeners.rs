//! `listen=`: the listening sockets going holds for its services.
//!
//! going creates, binds and listens on each address (as its own user, so a
//! service needs no root for port 80) when it accepts the file that names
//! it, and keeps the socket for as long as a service's file names it:
//! across exits, crashes, backoff, restarts, `down` and `up`, and across a
//! reload that leaves the address where it was. While no process accepts,
//! connections wait in the socket's backlog instead of being refused. Each
//! start gets the sockets as descriptors 3, 4, ... (see [`crate::spawn`]).
//!
//! A unix socket's directory must pass going's trust rule (root's or
//! going's, written by nobody else), so that nobody can swap what going
//! binds and chowns there; a socket left by an earlier run is replaced,
//! never another kind of file. The socket belongs to the service's user and
//! group with mode 0660, and its file is removed when going closes it.

use crate::config::{Address, ConfigError, Listen, ServiceSpec};
use crate::log::describe;
use crate::paths::split_parent;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

/// How many connections may wait while a service is not accepting: the kernel's cap
/// (`net.core.somaxconn`) lowers it.
const BACKLOG: i32 = 4096;
/// A unix socket's mode: its service's user and group may connect (nginx to php-fpm).
const UNIX_MODE: u32 = 0o660;

/// One socket going holds.
struct Held {
    /// The service whose file names it.
    service: String,
    address: Address,
    socket: OwnedFd,
}

/// Every socket going holds for `listen=`.
#[derive(Default)]
pub struct Listeners {
    held: Vec<Held>,
}

impl Listeners {
    /// Holds every `listen=` address of service `name`'s `spec`, binding those it does not
    /// hold yet; the error names the first line whose address cannot be had.
    pub fn hold(&mut self, name: &str, spec: &ServiceSpec) -> Result<(), ConfigError> {
        for Listen { address, line } in &spec.settings().listen {
            match self.held.iter().find(|held| held.address == *address) {
                Some(held) if held.service == name => continue,
                Some(held) => {
                    let message = format!("listen={address}: service {} listens there already", held.service);
                    return Err(ConfigError::at(*line, message));
                }
                None => {}
            }
            let identity = spec.settings().identity.as_ref();
            let owner = identity.map(|identity| (identity.uid, identity.gid));
            let socket = bind(address, owner).map_err(|message| ConfigError::at(*line, message))?;
            self.held.push(Held { service: name.into(), address: address.clone(), socket });
        }
        Ok(())
    }

    /// The sockets of service `name`, in the order its `spec` names them.
    pub fn sockets_of(&self, name: &str, spec: &ServiceSpec) -> Vec<BorrowedFd<'_>> {
        let held =
            |listen: &Listen| self.held.iter().find(|held| held.service == name && held.address == listen.address);
        spec.settings().listen.iter().filter_map(held).map(|held| rustix::fd::AsFd::as_fd(&held.socket)).collect()
    }

    /// Closes every socket whose service's file no longer names it: `named(service, address)`.
    pub fn close_unnamed(&mut self, named: impl Fn(&str, &Address) -> bool) {
        let (kept, gone) =
            core::mem::take(&mut self.held).into_iter().partition(|held| named(&held.service, &held.address));
        self.held = kept;
        gone.into_iter().for_each(close);
    }

    /// Closes every socket of service `name` (it is gone).
    pub fn close_all(&mut self, name: &str) {
        if self.held.iter().any(|held| held.service == name) {
            self.close_unnamed(|service, _| service != name);
        }
    }
}

/// Closes a socket, and removes a unix socket's file.
fn close(held: Held) {
    if let Address::Unix(path) = &held.address {
        let _ = rustix::fs::unlink(path.as_str());
    }
}

/// A socket listening at `address`; a unix one owned by `owner` (uid, kept when `None`; gid).
fn bind(address: &Address, owner: Option<(Option<u32>, u32)>) -> Result<OwnedFd, String> {
    let why = |error: Errno| format!("listen={address}: {}", describe(error));
    match address {
        Address::Tcp { host, port } => bind_tcp(*host, *port).map_err(why),
        Address::Unix(path) => bind_unix(path, owner).map_err(|message| format!("listen={address}: {message}")),
    }
}

fn bind_tcp(host: Option<core::net::IpAddr>, port: u16) -> Result<OwnedFd, Errno> {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let flags = SocketFlags::CLOEXEC;
    let stream = |family| rustix::net::socket_with(family, SocketType::STREAM, flags, None);
    let (socket, address) = match host {
        Some(host @ IpAddr::V4(_)) => (stream(AddressFamily::INET)?, SocketAddr::new(host, port)),
        Some(host @ IpAddr::V6(_)) => {
            let socket = stream(AddressFamily::INET6)?;
            rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
            (socket, SocketAddr::new(host, port))
        }
        // Every address: IPv6 and IPv4 on one socket where the kernel has IPv6.
        None => match stream(AddressFamily::INET6) {
            Ok(socket) => {
                rustix::net::sockopt::set_ipv6_v6only(&socket, false)?;
                (socket, SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
            }
            Err(Errno::AFNOSUPPORT) => {
                (stream(AddressFamily::INET)?, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))
            }
            Err(error) => return Err(error),
        },
    };
    // A going restarted while connections of its last run linger in TIME_WAIT binds again.
    rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &address)?;
    rustix::net::listen(&socket, BACKLOG)?;
    Ok(socket)
}

fn bind_unix(path: &str, owner: Option<(Option<u32>, u32)>) -> Result<OwnedFd, String> {
    let (directory, name) = split_parent(path);
    let dir = crate::trust::open_dir(directory).map_err(|error| match error {
        crate::trust::DirError::Unreadable(Errno::NOENT) => format!("directory {directory} does not exist; create it"),
        error => format!("directory {directory}: {error}"),
    })?;
    let os = |error: Errno| alloc::string::ToString::to_string(&describe(error));
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Socket => {
            rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(os)?;
        }
        Ok(_) => return Err(format!("{path} exists and is not a socket; going replaces only a socket")),
        Err(_) => {}
    }
    let socket =
        rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).map_err(os)?;
    rustix::net::bind(&socket, &SocketAddrUnix::new(path).map_err(os)?).map_err(os)?;
    let owned = match owner {
        Some((uid, gid)) => {
            let (uid, gid) = (uid.map(rustix::fs::Uid::from_raw), Some(rustix::fs::Gid::from_raw(gid)));
            rustix::fs::chownat(&dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
        }
        None => Ok(()),
    };
    let made = owned
        .and_then(|()| rustix::fs::chmodat(&dir, name, Mode::from_raw_mode(UNIX_MODE), AtFlags::empty()))
        .and_then(|()| rustix::net::listen(&socket, BACKLOG));
    if let Err(error) = made {
        let _ = rustix::fs::unlinkat(&dir, name, AtFlags::empty());
        return Err(os(error));
    }
    Ok(socket)
}
