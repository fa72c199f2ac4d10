#!/usr/bin/env bash
# going's footprint supervising N services (default 100) of `sleep`, read from
# /proc, and the line count of the daemon's sources. Prints numbers; the bar is
# VmPeak <= 512 kB at N = 100. A run at 100 is recorded in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100}
if [ "$count" = 100 ] && [ -z "${FOOTPRINT_PRINT_ONLY:-}" ]; then
    printed=$(mktemp)
    FOOTPRINT_PRINT_ONLY=1 "$0" "$@" | tee "$printed"
    python3 -c 'import sys; sys.path.insert(0, "bench"); from compare import record_section
record_section("## Footprint at 100 services (bench/footprint.sh)", open(sys.argv[1]).read().splitlines())' "$printed"
    rm -f "$printed"
    exit
fi
cargo build --release --quiet
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir" "$dir.run" "$dir.going"' EXIT
for i in $(seq 1 "$count"); do echo "cmd=/bin/sleep 100000" > "$dir/s$i"; done
# A private copy: another going running the same file would share its pages and lower Pss.
cp target/release/going "$dir.going"
"$dir.going" -d "$dir" -r "$dir.run" 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do
    [ "$(wc -w < "/proc/$pid/task/$pid/children")" -ge "$count" ] && break
    sleep 0.05
done
running=$(wc -w < "/proc/$pid/task/$pid/children")
field() { awk -v f="$1:" '$1 == f { print $2 }' "$2"; }
echo "going supervising $running of $count services (pid $pid)"
echo "  VmPeak  $(field VmPeak /proc/$pid/status) kB   (bar: 512 kB at 100 services)"
echo "  VmRSS   $(field VmRSS /proc/$pid/status) kB"
echo "  VmHWM   $(field VmHWM /proc/$pid/status) kB"
echo "  Pss     $(field Pss /proc/$pid/smaps_rollup) kB   (bar: 300 kB at 100 services)"
echo "  binary  $(stat -c %s target/release/going) bytes, $(file -b target/release/going | cut -d, -f1-4)"

if ! command -v cloc >/dev/null; then
    echo "installing cloc from Debian's packages" >&2
    (apt-get update -qq && apt-get install -y -qq cloc) >/dev/null 2>&1 || true
fi
if command -v cloc >/dev/null; then
    lines() { cloc --quiet --csv "$@" | awk -F, '$2 == "Rust" { print $5 }'; }
    # Unit tests live inside the source files under #[cfg(test)]; cloc cannot
    # tell them apart, so strip every `mod tests` block before counting.
    strip=$(mktemp -d)
    # Every file under src/, rooms in subdirectories (src/supervisor/) included.
    for f in $(find src -name '*.rs' ! -path src/bin/going.rs); do
        awk '/^#\[cfg\(test\)\]$/ { exit } { print }' "$f" > "$strip/$(echo "${f#src/}" | tr / _)"
    done
    # The program half of the runtime (entry, allocator, panic handler, mem*) lives in the binary.
    cp src/bin/going.rs "$strip/rt_entry.rs"
    echo "lines of code (cloc, unit tests excluded), per room:"
    for f in "$strip"/*.rs; do printf '  %-16s %5s\n' "$(basename "$f")" "$(lines "$f")"; done
    echo "  daemon without the runtime: $(lines --exclude-list-file=<(printf '%s\n' "$strip/rt.rs" "$strip/rt_entry.rs" "$strip/bin_goingctl.rs") "$strip")   (bar: 4500; aim: about 2400)"
    echo "  supervision logic (supervisor.rs): $(lines "$strip/supervisor.rs")   (bar: 600; aim: at most 500, as the original promised)"
    echo "  with its rooms (supervisor/*.rs):  $(lines "$strip"/supervisor*.rs)"
    echo "  runtime (rt.rs and src/bin/going.rs): $(lines "$strip/rt.rs" "$strip/rt_entry.rs")   (counted apart, as the C original did not count libc)"
    echo "  goingctl:          $(lines "$strip/bin_goingctl.rs")   (a separate std binary, counted apart)"
    rm -rf "$strip"
else
    echo "cloc unavailable: line counts skipped"
fi
