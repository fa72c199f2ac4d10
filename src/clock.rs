//! The clocks going reads: CLOCK_MONOTONIC for every deadline and uptime
//! (it never jumps), CLOCK_REALTIME only for what people read (timestamps,
//! `since=`). Time is read here and handed to the state machine as a number.

use rustix::time::{ClockId, clock_gettime};

/// CLOCK_MONOTONIC milliseconds: the time every deadline is in.
pub type Millis = u64;

/// CLOCK_MONOTONIC in milliseconds: the state machine's time.
pub fn monotonic_millis() -> u64 {
    let time = clock_gettime(ClockId::Monotonic);
    time.tv_sec as u64 * 1000 + time.tv_nsec as u64 / 1_000_000
}

/// CLOCK_MONOTONIC in nanoseconds, as status files give it.
pub fn monotonic_nanos() -> u64 {
    let time = clock_gettime(ClockId::Monotonic);
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

/// CLOCK_REALTIME in milliseconds since 1970.
pub fn unix_millis() -> u64 {
    let time = clock_gettime(ClockId::Realtime);
    time.tv_sec as u64 * 1000 + time.tv_nsec as u64 / 1_000_000
}

/// Milliseconds as log lines show them.
pub fn seconds(millis: Millis) -> impl core::fmt::Display {
    Seconds(millis)
}

/// Milliseconds shown as seconds with one decimal when short (`0.3s`, `12s`).
struct Seconds(Millis);

/// Milliseconds as a service file writes seconds: `5`, `0.5`, `2.25`.
pub fn exact_seconds(millis: Millis) -> impl core::fmt::Display {
    struct Exact(Millis);
    impl core::fmt::Display for Exact {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let (whole, part) = (self.0 / 1000, self.0 % 1000);
            match (part % 100, part % 10) {
                _ if part == 0 => write!(f, "{whole}"),
                (0, _) => write!(f, "{whole}.{}", part / 100),
                (_, 0) => write!(f, "{whole}.{:02}", part / 10),
                _ => write!(f, "{whole}.{part:03}"),
            }
        }
    }
    Exact(millis)
}

impl core::fmt::Display for Seconds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            millis if millis < 10_000 => write!(f, "{}.{}s", millis / 1000, millis % 1000 / 100),
            millis => write!(f, "{}s", millis / 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exact_seconds_are_written_as_a_service_file_would() {
        let shown: Vec<String> = [5000, 500, 2250, 1005, 0, 3_600_000]
            .map(|millis| alloc::format!("{}", super::exact_seconds(millis)))
            .into();
        assert_eq!(shown, ["5", "0.5", "2.25", "1.005", "0", "3600"]);
    }
}
