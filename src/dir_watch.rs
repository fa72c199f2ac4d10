//! Watching the configuration directory with inotify, so that changes
//! apply by themselves; SIGHUP stays for forced rescans.
//!
//! Two watches: the directory itself (completed writes, renames in and out,
//! deletions, attribute changes, and the directory moving or vanishing), and
//! its parent, for entries named like the directory, so that a directory
//! swapped into place by a rename, or a symlink replaced, is watched again
//! at once, without polling.
//!
//! Files still being written (created or modified, not yet closed) are
//! remembered, so that a rescan caused by another file never reads them half
//! written: they keep their previous state until their writer closes them.

use crate::log::{Logger, Severity, describe};
use crate::paths::split_parent_bytes;
use crate::service_dir::is_service_name;
use alloc::borrow::ToOwned;
use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;
use core::mem::MaybeUninit;
use rustix::fd::OwnedFd;
use rustix::fs::FileType;
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

/// Events that complete a change to a file: what a Procfile's directory is watched for.
const COMPLETED_CHANGES: WatchFlags = WatchFlags::CLOSE_WRITE
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::ONLYDIR);

/// The service directory also reports writes in progress and its own moves.
const DIR_EVENTS: WatchFlags = COMPLETED_CHANGES
    .union(WatchFlags::CREATE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DELETE_SELF);

const PARENT_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::ONLYDIR);

/// The directory and its parent under inotify.
pub struct DirWatch {
    inotify: OwnedFd,
    dir: CString,
    /// The directory's last path component, as its parent's events name it.
    name: CString,
    dir_watch: Option<i32>,
    parent_watch: i32,
    being_written: Vec<CString>,
    /// Files whose change completed since the last rescan.
    changed: Vec<CString>,
    /// Something since the last rescan needs every file read.
    everything: bool,
    /// The watched directory was deleted (not moved): it was empty, so every
    /// file in it was deleted too, whatever deleted them (`rm -rf`).
    removed: bool,
    /// Watches of Procfile directories: any completed change there causes a rescan.
    procfile_watches: Vec<i32>,
}

fn c_string(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("BUG: a path from a C string has no NUL")
}

impl DirWatch {
    pub fn new(dir: &CStr) -> Result<DirWatch, Errno> {
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let (parent, name) = split_parent_bytes(dir.to_bytes());
        let parent_watch = inotify::add_watch(&inotify, c_string(parent).as_c_str(), PARENT_EVENTS)?;
        let dir_watch = Some(inotify::add_watch(&inotify, dir, DIR_EVENTS)?);
        let (dir, name) = (dir.to_owned(), c_string(name));
        Ok(DirWatch {
            inotify,
            dir,
            name,
            dir_watch,
            parent_watch,
            being_written: Vec::new(),
            changed: Vec::new(),
            everything: false,
            removed: false,
            procfile_watches: Vec::new(),
        })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.inotify
    }

    /// Names that must not be read now: their writer has not closed them yet.
    pub fn being_written(&self) -> &[CString] {
        &self.being_written
    }

    /// Watches the directories of Procfiles too. MASK_ADD: a directory that is
    /// already watched (the service directory's parent) keeps its events.
    pub fn watch_also(&mut self, dirs: &[String], logger: &mut Logger) {
        for dir in dirs {
            match inotify::add_watch(&self.inotify, dir.as_str(), COMPLETED_CHANGES | WatchFlags::MASK_ADD) {
                Ok(watch) if !self.procfile_watches.contains(&watch) => self.procfile_watches.push(watch),
                Ok(_) => {}
                Err(error) => {
                    let reason = describe(error);
                    logger.log(
                        Severity::Warning,
                        format_args!("{dir}: cannot watch: {reason}; send SIGHUP after changes"),
                    );
                }
            }
        }
    }

    /// Whether the directory was deleted and no new one has appeared at its path since.
    pub fn removed(&self) -> bool {
        self.removed
    }

    /// A forced rescan (SIGHUP) reads every file, written or not.
    pub fn forget_writers(&mut self) {
        self.being_written.clear();
    }

    /// Reads every pending event; true when something needs a rescan: the
    /// files it names ([`Self::take_changes`]) or everything.
    pub fn read_events(&mut self, logger: &mut Logger) -> bool {
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buffer);
        let mut rescan = false;
        let mut rewatch = false;
        let mut everything = false;
        while let Ok(event) = reader.next() {
            let flags = event.events();
            let completed = ReadFlags::CLOSE_WRITE | ReadFlags::MOVED_TO | ReadFlags::MOVED_FROM | ReadFlags::DELETE;
            // A Procfile or .env changed: which service file names it is not known here.
            if self.procfile_watches.contains(&event.wd()) && event.file_name().is_some() {
                everything |= flags.intersects(completed | ReadFlags::ATTRIB);
            }
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                // Events were lost: only a full rescan knows what changed.
                self.being_written.clear();
                everything = true;
            } else if event.wd() == self.parent_watch {
                rewatch |= event.file_name() == Some(self.name.as_c_str());
            } else if Some(event.wd()) != self.dir_watch {
                // An event of a watch already replaced.
            } else if let Some(name) = event.file_name() {
                let created_empty = flags.contains(ReadFlags::CREATE) && is_empty_regular_file(&self.dir, name);
                if track_write(&mut self.being_written, name, flags, created_empty) {
                    if !self.changed.iter().any(|changed| changed.as_c_str() == name) {
                        self.changed.push(name.to_owned());
                    }
                    rescan = true;
                }
            } else if flags.intersects(ReadFlags::MOVE_SELF | ReadFlags::DELETE_SELF | ReadFlags::IGNORED) {
                let dir = self.dir.to_string_lossy();
                logger
                    .log(Severity::Warning, format_args!("{dir}: directory moved or removed; watching for a new one"));
                self.dir_watch = None;
                self.removed |= flags.contains(ReadFlags::DELETE_SELF);
                everything = true;
            } else {
                // The directory's own owner or mode: it decides whether every file is trusted.
                everything |= flags.contains(ReadFlags::ATTRIB);
            }
        }
        if rewatch {
            self.watch_dir_again(logger);
            everything = true;
        }
        self.everything |= everything;
        rescan || everything
    }

    /// What the next rescan must read: the files that changed, or `None` for
    /// every file (events were lost, the directory itself or a Procfile changed).
    pub fn take_changes(&mut self) -> Option<Vec<CString>> {
        let changed = core::mem::take(&mut self.changed);
        (!core::mem::take(&mut self.everything)).then_some(changed)
    }

    /// The path names a directory again (or a different one): watch whatever it is now.
    fn watch_dir_again(&mut self, logger: &mut Logger) {
        match inotify::add_watch(&self.inotify, self.dir.as_c_str(), DIR_EVENTS) {
            Ok(watch) if Some(watch) == self.dir_watch => {}
            Ok(watch) => {
                if let Some(old) = self.dir_watch.replace(watch) {
                    let _ = inotify::remove_watch(&self.inotify, old);
                }
                self.being_written.clear();
                self.removed = false;
            }
            // Not there yet: the parent's watch tells when it is.
            Err(Errno::NOENT) => {}
            Err(error) => {
                let dir = self.dir.to_string_lossy();
                let reason = describe(error);
                logger.log(Severity::Error, format_args!("{dir}: cannot watch: {reason}; send SIGHUP after changes"));
            }
        }
    }
}

/// Whether `dir/name` is an empty regular file: what `cp` or an editor has
/// just created and is about to write. A new symlink, hard link, FIFO or
/// directory is no write in progress.
fn is_empty_regular_file(dir: &CStr, name: &CStr) -> bool {
    let mut path = dir.to_bytes().to_owned();
    path.push(b'/');
    path.extend_from_slice(name.to_bytes());
    let flags = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
    match rustix::fs::statat(rustix::fs::CWD, c_string(&path).as_c_str(), flags) {
        Ok(stat) => FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile && stat.st_size == 0,
        Err(_) => false,
    }
}

/// Updates the set of files being written; true when the event completes a
/// change to a service file.
fn track_write(being_written: &mut Vec<CString>, name: &CStr, flags: ReadFlags, created_empty: bool) -> bool {
    if !is_service_name(name.to_bytes()) {
        return false;
    }
    let position = being_written.iter().position(|n| n.as_c_str() == name);
    if created_empty || flags.contains(ReadFlags::MODIFY) {
        if position.is_none() {
            being_written.push(name.to_owned());
        }
        return false;
    }
    if let Some(position) = position {
        being_written.swap_remove(position);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_counts_as_changed_only_once_its_writer_closes_it() {
        let mut writing = Vec::new();
        assert!(!track_write(&mut writing, c"web", ReadFlags::CREATE, true));
        assert!(!track_write(&mut writing, c"web", ReadFlags::MODIFY, false));
        assert_eq!(writing, [c"web".to_owned()]);
        assert!(track_write(&mut writing, c"web", ReadFlags::CLOSE_WRITE, false));
        assert!(writing.is_empty());
        assert!(track_write(&mut writing, c"web", ReadFlags::MOVED_TO, false));
        assert!(track_write(&mut writing, c"web", ReadFlags::DELETE, false));
        assert!(!track_write(&mut writing, c".web.swp", ReadFlags::CLOSE_WRITE, false));
        assert!(!track_write(&mut writing, c"web~", ReadFlags::MOVED_TO, false));
    }

    #[test]
    fn a_new_link_is_a_change_not_a_write_in_progress() {
        let mut writing = Vec::new();
        assert!(track_write(&mut writing, c"linked", ReadFlags::CREATE, false));
        assert!(writing.is_empty());
    }
}
