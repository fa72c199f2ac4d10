//! An inotify queue that overflowed forces a full rescan. Alone in its test
//! binary: it lowers a machine-wide limit for a moment, and cargo runs test
//! binaries one after another, so no other going starts meanwhile.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;

const LIMIT: &str = "/proc/sys/fs/inotify/max_queued_events";

/// Sets the kernel's limit on queued inotify events and puts it back when dropped.
struct QueueLimit(String);

impl QueueLimit {
    fn set(events: u32) -> QueueLimit {
        let before = fs::read_to_string(LIMIT).unwrap().trim().to_owned();
        fs::write(LIMIT, events.to_string()).unwrap();
        QueueLimit(before)
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        let _ = fs::write(LIMIT, &self.0);
    }
}

#[test]
fn an_inotify_queue_overflow_forces_a_full_rescan() {
    // An inotify instance keeps the limit it was created with.
    let limit = QueueLimit::set(16);
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    drop(limit);
    let steady = going.service_pid("steady", 1);
    // Stopped, going reads no event: 40 new files overflow its queue of 16.
    going.signal(Signal::STOP);
    for i in 0..40 {
        write_service(going.services.path(), &format!("s{i:02}"), "cmd=/bin/sleep 1000\n");
    }
    going.signal(Signal::CONT);
    for i in 0..40 {
        going.service_pid(&format!("s{i:02}"), 1);
    }
    assert!(is_alive(steady));
    assert_eq!(going.count_log("going: steady: started"), 1);
}
