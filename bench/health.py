#!/usr/bin/env python3
"""What health checks cost going: 100 services checked every second for 60 s.

Usage: bench/health.py [SECONDS]   (default 60; only the default run is recorded in bench/RESULTS.md)

Each service runs `sleep` and has `check=/bin/true` with `check_interval=1`.
It prints going's own CPU time (/proc/PID/schedstat) over the window and
going's CPU per check (about one check a second per service); then the same window with the same 100 services without `check=`,
whose idle context switches must be 0. The checks' own fork and exec in the
children are not going's time.
"""
import os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import GOING, ROOT, context_switches, record_section, read  # noqa: E402

COUNT = 100
SECTION = "## Health checks (bench/health.py)"


def cpu_seconds(pid):
    return int(read(f"/proc/{pid}/schedstat").split()[0]) / 1e9


def window(work, checked, seconds):
    services = os.path.join(work, "checked.d" if checked else "plain.d")
    run_dir = f"/dev/shm/going-health-{os.getpid()}"
    os.makedirs(services)
    os.chmod(services, 0o755)
    for i in range(COUNT):
        with open(os.path.join(services, f"s{i:03}"), "w") as f:
            f.write("cmd=/bin/sleep 100000\n" + ("check=/bin/true\ncheck_interval=1\n" if checked else ""))
    going = subprocess.Popen([GOING, "-d", services, "-r", run_dir], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        states = [read(os.path.join(run_dir, f"s{i:03}")) or "" for i in range(COUNT)]
        if all(state.startswith("state=up") for state in states):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the services did not come up")
        time.sleep(0.05)
    cpu_before, switches_before = cpu_seconds(going.pid), context_switches(going.pid)
    time.sleep(seconds)
    cpu = cpu_seconds(going.pid) - cpu_before
    switches = context_switches(going.pid) - switches_before
    going.terminate()
    going.wait()
    shutil.rmtree(run_dir, ignore_errors=True)
    return cpu, switches


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    work = tempfile.mkdtemp(prefix="going-health-")
    os.system(f"cd {ROOT} && cargo build --release --quiet")
    lines = []

    def say(text):
        lines.append(text)
        print(text)
    cpu, _ = window(work, True, seconds)
    # The next check comes an interval after the last one ended: a little under one a second.
    expected = COUNT * seconds
    say(f"{COUNT} services, check=/bin/true every 1 s, for {seconds:.0f} s: going's CPU {cpu * 1000:.0f} ms "
        f"({cpu / seconds * 100:.2f} % of a core), about {expected:.0f} checks, "
        f"{cpu / expected * 1e6:.0f} µs of going's CPU per check")
    idle_cpu, idle_switches = window(work, False, seconds)
    say(f"the same {COUNT} services without check=: going's CPU {idle_cpu * 1000:.1f} ms, "
        f"context switches {idle_switches} (bar: 0: {'met' if idle_switches == 0 else 'MISSED'})")
    if len(sys.argv) == 1:
        record_section(SECTION, lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
