//! A service for bench/readiness.py and bench/scale.py that is ready at
//! once: it appends its start and the moment it says it is ready
//! (CLOCK_MONOTONIC nanoseconds) to the file named by its first argument,
//! writes a newline to descriptor 3 when that is open (`ready=fd:3`), then
//! sleeps until killed. Other arguments are ignored (they tell services
//! apart). Built static by the scripts.
use std::io::Write;
use std::os::fd::FromRawFd;

#[repr(C)]
struct Timespec {
    seconds: i64,
    nanoseconds: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    fn pause() -> i32;
}

fn monotonic() -> i64 {
    let mut time = Timespec { seconds: 0, nanoseconds: 0 };
    // SAFETY: clock_gettime writes one timespec, which `time` is. 1 is CLOCK_MONOTONIC.
    unsafe { clock_gettime(1, &mut time) };
    time.seconds * 1_000_000_000 + time.nanoseconds
}

fn main() {
    let start = monotonic();
    let path = std::env::args().nth(1).expect("a file for the times");
    let mut times = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let ready = monotonic();
    writeln!(times, "{start} {ready}").unwrap();
    // SAFETY: descriptor 3 is the readiness pipe going gave this process; nothing else owns it.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(3) };
    // Without ready=fd:3 the descriptor is closed: the write fails, which is fine.
    let _ = pipe.write_all(b"\n");
    drop(pipe);
    loop {
        // SAFETY: pause takes nothing and returns when a signal arrives.
        unsafe { pause() };
    }
}
