//! The ownership and mode rule, applied to what going reads as it opens it.
//!
//! Whoever can write a service file, a Procfile, a `.env` or the directory
//! that holds one decides what runs and as whom, so going reads them only
//! when they are owned by root or going's own user and not writable by group
//! or others. The rule is checked on the opened descriptor (fstat), never on
//! a path that could change between the check and the read.

use crate::config::MAX_FILE_SIZE;
use crate::log::describe;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Why the directory as a whole cannot be used.
#[derive(Debug)]
pub enum DirError {
    /// Missing or unreadable: exit 72 (EX_OSFILE) at start.
    Unreadable(Errno),
    /// Refused by the ownership and mode rule: exit 78 (EX_CONFIG) at start.
    Untrusted(String),
}

impl core::fmt::Display for DirError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DirError::Unreadable(error) => write!(f, "cannot read: {}", describe(*error)),
            DirError::Untrusted(reason) => f.write_str(reason),
        }
    }
}

/// Why going must not trust a file with this owner and mode, if it must not.
pub fn distrust_reason(stat: &Stat, own_uid: u32) -> Option<String> {
    let owner = stat.st_uid;
    if owner != 0 && owner != own_uid {
        return Some(format!("owned by uid {owner}, not by root or going's user; chown it to root"));
    }
    let mode = Mode::from_raw_mode(stat.st_mode);
    if mode.intersects(Mode::WGRP | Mode::WOTH) {
        return Some("writable by group or others; chmod go-w it".to_string());
    }
    None
}

/// Opens a directory and checks it under the rule.
pub fn open_dir<P: rustix::path::Arg>(path: P) -> Result<OwnedFd, DirError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(DirError::Unreadable)?;
    let stat = rustix::fs::fstat(&dir).map_err(DirError::Unreadable)?;
    match distrust_reason(&stat, own_uid()) {
        Some(reason) => Err(DirError::Untrusted(format!("refused: {reason}"))),
        None => Ok(dir),
    }
}

/// going's effective uid: the other owner the rule accepts besides root.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// What a trusted read found.
pub enum Found {
    /// No such file (or it vanished between readdir and open).
    Missing,
    /// A directory, FIFO, device or socket.
    NotRegular,
    Bytes(Vec<u8>),
}

/// Reads `name` in `dir` under the ownership and mode rule: whoever can write
/// a file going reads decides what runs and as whom. Never blocks on a FIFO;
/// `follow`: a symlink is followed (service files) or refused (Procfiles and
/// `.env`, whose directory an app's owner may share). Errors name `shown`.
pub fn read_trusted(dir: &OwnedFd, name: &CStr, shown: &str, follow: bool) -> Result<Found, String> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let file = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(Found::Missing),
        Err(Errno::LOOP) if !follow => return Err(format!("{shown}: is a symlink, which is not followed here")),
        Err(error) => return Err(format!("{shown}: cannot open: {}", describe(error))),
    };
    let stat = rustix::fs::fstat(&file).map_err(|e| format!("{shown}: cannot stat: {}", describe(e)))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Ok(Found::NotRegular);
    }
    if let Some(reason) = distrust_reason(&stat, own_uid()) {
        return Err(format!("{shown}: refused: {reason}"));
    }
    let bytes = read_limited(&file, MAX_FILE_SIZE).map_err(|e| format!("{shown}: cannot read: {}", describe(e)))?;
    Ok(Found::Bytes(bytes))
}

/// Reads a file to its end or to one byte past `limit`, so that the caller sees an
/// over-size file as one: every file going reads goes through here.
pub fn read_limited(file: &OwnedFd, limit: usize) -> Result<Vec<u8>, Errno> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while bytes.len() <= limit {
        match rustix::io::read(file, &mut chunk) {
            Ok(0) => break,
            Ok(count) => bytes.extend_from_slice(&chunk[..count]),
            Err(Errno::INTR) => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(bytes)
}
