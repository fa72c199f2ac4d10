#!/usr/bin/env python3
"""going's cost per event at N = 10, 1000 and 10,000 services, in one run.

Usage: bench/scale.py [N...]   (default: 10 100 1000 10000; only the default run is recorded in bench/RESULTS.md)
       GOING=/path/to/going bench/scale.py N...   (that binary, not a build of this tree)

For each N it prints:
- respawn after kill -9 of a service that ran over 5 s: median and p90 of
  the time until the replacement has exec'd, and going's own CPU time
  (/proc/PID/schedstat) per respawn over many respawns;
- cold start: the time until going has N children, and per service (what
  they run is checked once afterwards: polling every cmdline in /proc took
  the CPU being measured);
- one service file moved into the directory until its process runs (timed
  by the service, bench/ready_now.rs, from its main), median and p90 of 30,
  each after a quiet spell (under a stream of events going rescans at most
  every 100 ms);
- every service killed at once until all run again;
- VmPeak, VmRSS and Pss of going, and context switches while idle for 10 s.
Then the bars of the scale issue, met or missed, and bytes per service
between the smallest and the largest N.

The peers are measured by bench/compare.py; this script measures going
against itself, so that the numbers of one run compare with each other.
Every loop is bounded in time; every process started is ended by its pid.
"""
import builtins, ctypes, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the helpers: /proc readers, the going launcher)
from compare import (MARK, Going, children_of, context_switches, marker, median_p90, pss_kb, read,  # noqa: E402
                     reap_orphans, services_running, status_kb, wait_until)

def cpu_seconds(pid):
    """Time going ran on a CPU, in nanoseconds from /proc/PID/schedstat: clock
    ticks (utime + stime) are 10 ms, coarser than a hundred respawns."""
    return int(read(f"/proc/{pid}/schedstat").split()[0]) / 1e9


def wait_new_child(going, index, before, seconds=10):
    """The pid of a new child of going running service `index`'s command."""
    deadline = time.monotonic() + seconds
    while True:
        for child in set(children_of(going)) - before:
            if read(f"/proc/{child}/cmdline", "rb") == marker(index):
                return child
        if time.monotonic() > deadline:
            raise SystemExit(f"no process for service {index} within {seconds} s")
        # Yield: a spinning poller takes one of two cores from going and its child.
        time.sleep(0.0001)


def respawns(going, count, tries, started_at):
    """kill -9 of services that ran over 5 s (no backoff); latencies and going's CPU per respawn."""
    last_start = {index: started_at for index in range(count)}
    latencies = []
    cpu_before = cpu_seconds(going)
    for attempt in range(tries):
        index = attempt % count
        while time.monotonic() < last_start[index] + 5.2:
            time.sleep(0.01)
        old = services_running_one(going, index)
        before = set(children_of(going))
        os.kill(old, signal.SIGKILL)
        begin = time.monotonic()
        wait_new_child(going, index, before)
        latencies.append(time.monotonic() - begin)
        last_start[index] = time.monotonic()
        reap_orphans()
    return latencies, (cpu_seconds(going) - cpu_before) / tries


def services_running_one(going, index):
    for child in children_of(going):
        if read(f"/proc/{child}/cmdline", "rb") == marker(index):
            return child
    raise SystemExit(f"service {index} is not running")


def build_helper(work):
    """bench/ready_now.rs, static: a service that notes when its main began."""
    program = os.path.join(work, "ready_now")
    source = os.path.join(compare.ROOT, "bench", "ready_now.rs")
    subprocess.run(["rustc", "-O", "-C", "target-feature=+crt-static", "-o", program, source], check=True)
    return program


def move_in(going, services, count, tries, helper):
    """A file written aside and renamed into the directory, until its process runs: the
    service notes its own start (CLOCK_MONOTONIC), so that finding a new child among
    10,000 in /proc, which takes this script milliseconds, is not counted."""
    aside = tempfile.mkdtemp(prefix="going-scale-aside-", dir=os.path.dirname(services))
    latencies = []
    for attempt in range(tries):
        index = count + attempt
        path = os.path.join(aside, f"new{attempt}")
        times = os.path.join(aside, f"times{attempt}")
        with open(path, "w") as f:
            f.write(f"cmd={helper} {times} {MARK + index}\n")
        os.chmod(path, 0o644)
        begin = time.monotonic_ns()
        os.rename(path, os.path.join(services, f"new{attempt}"))
        wait_until(f"moved-in service {attempt} to start", lambda: os.path.exists(times) and os.path.getsize(times), 10)
        with open(times) as f:
            started = int(f.read().split()[0])
        latencies.append((started - begin) / 1e9)
        # A single change after a quiet spell: going rescans at most every 100 ms under a stream of events.
        time.sleep(0.15)
    return aside, latencies


def full_rescan_cpu(pid):
    """going's CPU for a rescan of every file (SIGHUP): what a rescan of only the files
    inotify named saves a moved-in file. Measured until going's CPU time stays still."""
    before = cpu_seconds(pid)
    os.kill(pid, signal.SIGHUP)
    last, still_since = before, time.monotonic()
    while time.monotonic() - still_since < 0.3:
        time.sleep(0.02)
        now = cpu_seconds(pid)
        if now != last:
            last, still_since = now, time.monotonic()
    return last - before


def start_time(pid):
    stat = read(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


def replaced(going, old, count):
    """Whether going has `count` children that are not the `old` ones (pid: start time). A
    new child may have an old one's pid (10,000 services and a helper per start go round
    a pid_max of 32768): such pids, few once the old ones are reaped, are told apart by
    their start time, read only when the cheap count cannot decide."""
    children = set(children_of(going))
    fresh, maybe = len(children - old.keys()), children & old.keys()
    if fresh + len(maybe) < count:
        return False
    return fresh + sum(1 for pid in maybe if start_time(pid) != old[pid]) >= count


def mass_kill(going, count):
    pids = list(services_running(count).values())
    old = {pid: start_time(pid) for pid in pids}
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    begin = time.monotonic()
    # Polled through going's children file alone: reading 10,000 cmdlines a poll took
    # the CPU this measures. What the new children run is checked once at the end.
    wait_until("every service running again", lambda: replaced(going, old, count), 300)
    elapsed = time.monotonic() - begin
    wait_until("every service running again", lambda: (reap_orphans(), all_replaced(count, old))[1], 300)
    return elapsed


def all_replaced(count, old):
    running = services_running(count)
    return len(running) == count and not any(old.get(pid, "gone") == start_time(pid) for pid in running.values())


def idle_switches(pid, seconds=10):
    # First until going has gone quiet (no switch for 0.5 s, 5 s at most): the events of
    # what came before (the last exec reports of a mass kill) are not idleness.
    quiet_since, last, deadline = time.monotonic(), context_switches(pid), time.monotonic() + 5
    while time.monotonic() - quiet_since < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = context_switches(pid)
        if now != last:
            quiet_since, last = time.monotonic(), now
    before = context_switches(pid)
    time.sleep(seconds)
    return context_switches(pid) - before


def measure(work, count, helper):
    going = Going(work)
    begin = time.monotonic()
    going.start(count)
    # going's children are its services (none has check=): counted from one file, not by
    # reading every cmdline in /proc at each poll, which took the CPU this measures.
    wait_until(f"{count} services", lambda: len(children_of(going.process.pid)) >= count, 600)
    cold = time.monotonic() - begin
    wait_until(f"{count} services", lambda: len(services_running(count)) == count, 600)
    started = time.monotonic()
    pid = going.process.pid
    tries = 100 if count < 100 else 1000
    latencies, cpu = respawns(pid, count, tries, started)
    aside, moved = move_in(pid, going.services, count, 30, helper)
    for attempt in range(30):
        os.remove(os.path.join(going.services, f"new{attempt}"))
    wait_until("the moved-in services to stop", lambda: not any(
        (read(f"/proc/{c}/cmdline", "rb") or b"").startswith(helper.encode()) for c in children_of(pid)), 60)
    shutil.rmtree(aside)
    time.sleep(5.2)  # every service ran long enough that the mass kill causes no backoff
    everything = mass_kill(pid, count)
    idle = idle_switches(pid)
    result = {
        "cold": cold,
        "respawn": median_p90(latencies),
        "cpu_per_respawn": cpu,
        "tries": tries,
        "move_in": median_p90(moved),
        "mass_kill": everything,
        "vmpeak": status_kb(pid, "VmPeak"),
        "rss": status_kb(pid, "VmRSS"),
        "pss": pss_kb(pid),
        "idle": idle,
    }
    # Last, so that the memory above is comparable with runs that had no full rescan.
    result["full_rescan"] = full_rescan_cpu(pid)
    result["vmpeak_after_rescan"] = status_kb(pid, "VmPeak")
    going.stop()
    return result


class GoingWithoutCgroups(Going):
    """going where the cgroup2 mount is read-only (its own mount namespace), as the
    tests' fallback runs it: services tracked by process group, no cgroup per service."""

    def prepare(self, directory, count):
        return compare.without_cgroups(super().prepare(directory, count))


def respawn_cpu_without_cgroups(work, count):
    """going's CPU per respawn at `count` services with no cgroups: what the kernel's
    cgroup work at each fork adds, apart from going's own."""
    going = GoingWithoutCgroups(work)
    going.start(count)
    wait_until(f"{count} services", lambda: len(children_of(going.process.pid)) >= count, 600)
    wait_until(f"{count} services", lambda: len(services_running(count)) == count, 600)
    started = time.monotonic()
    _, cpu = respawns(going.process.pid, count, 100 if count < 100 else 1000, started)
    going.stop()
    return cpu


SECTION = "## Scale (bench/scale.py)"


def record(lines):
    """Puts the printed lines in bench/RESULTS.md under SECTION, replacing an older run's."""
    compare.record_section(SECTION, lines, ", going alone at each N (its peers are in the sections above)")


def main():
    counts = [int(arg) for arg in sys.argv[1:]] or [10, 100, 1000, 10_000]
    printed = []
    real_print = builtins.print

    def print(*args, **kwargs):  # noqa: A001  (every line also goes to RESULTS.md)
        printed.append(" ".join(str(arg) for arg in args))
        real_print(*args, **kwargs)
    ctypes.CDLL(None).prctl(compare.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if not os.environ.get("GOING"):
        os.system(f"cd {compare.ROOT} && cargo build --release --quiet")
    work = tempfile.mkdtemp(prefix="going-scale-")
    helper = build_helper(work)
    results = {}
    for count in counts:
        print(f"N = {count}", flush=True)
        r = results[count] = measure(work, count, helper)
        print(f"  respawn median {r['respawn'][0] * 1000:.2f} ms, p90 {r['respawn'][1] * 1000:.2f} ms; "
              f"going's CPU per respawn {r['cpu_per_respawn'] * 1e6:.0f} µs (over {r['tries']})", flush=True)
        print(f"  cold start {r['cold']:.3f} s, {r['cold'] / count * 1e6:.0f} µs per service", flush=True)
        print(f"  file moved in to its process: median {r['move_in'][0] * 1000:.1f} ms, "
              f"p90 {r['move_in'][1] * 1000:.1f} ms", flush=True)
        print(f"  all {count} killed at once until all run again: {r['mass_kill']:.3f} s", flush=True)
        print(f"  VmPeak {r['vmpeak']} kB, VmRSS {r['rss']} kB, Pss {r['pss']} kB, "
              f"idle context switches in 10 s: {r['idle']}", flush=True)
        print(f"  then a rescan of every file (SIGHUP): going's CPU {r['full_rescan'] * 1000:.1f} ms "
              f"(a moved-in file rescans only itself), VmPeak after it {r['vmpeak_after_rescan']} kB", flush=True)
    without = {}
    if 10 in results and 10_000 in results:
        for count in (10, 10_000):
            without[count] = respawn_cpu_without_cgroups(work, count)
        print(f"going's CPU per respawn without cgroups (cgroup2 read-only): {without[10] * 1e6:.0f} µs at 10, "
              f"{without[10_000] * 1e6:.0f} µs at 10,000 ({without[10_000] / without[10]:.2f} x)", flush=True)
    os.remove(helper)
    os.rmdir(work)
    small, large = min(results), max(results)
    if large > small:
        per_service = (results[large]["rss"] - results[small]["rss"]) * 1024 / (large - small)
        print(f"memory per service (VmRSS from N={small} to N={large}): {per_service:.0f} bytes (bar: 300)")
    print("bars:")
    if 10 in results and 10_000 in results:
        ratio = results[10_000]["cpu_per_respawn"] / results[10]["cpu_per_respawn"]
        print(f"- CPU per respawn at 10,000 at most 1.5 x at 10: {ratio:.2f} x, {'met' if ratio <= 1.5 else 'MISSED'}")
        move = results[10_000]["move_in"][0]
        print(f"- file moved in at 10,000 at most 25 ms: {move * 1000:.1f} ms, {'met' if move <= 0.025 else 'MISSED'}")
        peak = results[10_000]["vmpeak"]
        print(f"- VmPeak at 10,000 at most 4 MB: {peak} kB, {'met' if peak <= 4096 else 'MISSED'}")
    if 10 in results:
        median = results[10]["respawn"][0]
        print(f"- respawn median at 10 at most 0.6 ms: {median * 1000:.2f} ms, {'met' if median <= 0.0006 else 'MISSED'}")
    if 1000 in results and 10_000 in results:
        ratio = results[10_000]["cold"] / results[1000]["cold"]
        print(f"- cold start of 10,000 at most 10.5 x 1000: {ratio:.1f} x, {'met' if ratio <= 10.5 else 'MISSED'}")
    if 100 in results:
        print(f"- Pss at 100 at most 150 kB: {results[100]['pss']} kB, {'met' if results[100]['pss'] <= 150 else 'MISSED'}")
    for count, r in sorted(results.items()):
        print(f"- idle context switches at {count}: {r['idle']}, {'met' if r['idle'] == 0 else 'MISSED'}")
    if not sys.argv[1:] and not os.environ.get("GOING"):
        record(printed)
    else:
        real_print("partial run: bench/RESULTS.md left as it is")


if __name__ == "__main__":
    main()
