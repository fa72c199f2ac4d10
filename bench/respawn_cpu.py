#!/usr/bin/env python3
"""going's CPU per respawn at N services, for two builds side by side.

Usage: bench/respawn_cpu.py N SECONDS GOING [GOING...]

For each going binary given: N services of `sleep` in a fresh directory
(the run directory on /dev/shm), started and left 8 s to settle; then one
service killed with SIGKILL every 10 ms for SECONDS, each a different one
(no backoff), and going's CPU time from /proc/PID/schedstat divided by the
kills. Also per respawn: going's own and its reaped children's clock ticks
(utime, stime, cutime and cstime in /proc/PID/stat). Up to 1.5.2 a start
at a large descriptor table went through a helper that forked the service
for going, and that fork (the copy of going's page tables) was charged to
the helper, which going reaped; the killed services are reaped alike in
every build. Builds are run one after the other in one call, so that one machine
at one hour measures both (absolute times drift on shared machines).
Every loop is bounded in time; going is stopped with SIGTERM at the end.
"""
import os, shutil, signal, subprocess, sys, tempfile, time


def children(pid):
    try:
        return open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return []


def cpu_ns(pid):
    return int(open(f"/proc/{pid}/schedstat").read().split()[0])


def ticks_with_reaped(pid):
    """utime + stime + cutime + cstime, in clock ticks (10 ms)."""
    return sum(int(field) for field in open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()[11:15])


def measure(going, count, seconds):
    work = tempfile.mkdtemp()
    os.chmod(work, 0o755)
    services = os.path.join(work, "services")
    os.mkdir(services)
    os.chmod(services, 0o755)
    for index in range(count):
        path = os.path.join(services, f"s{index}")
        with open(path, "w") as file:
            file.write(f"cmd=/bin/sleep {100000 + index}\n")
        os.chmod(path, 0o644)
    run = f"/dev/shm/going-respawn-cpu-{os.getpid()}"
    daemon = subprocess.Popen([going, "-d", services, "-r", run], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(children(daemon.pid)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(8)
        before, ticks, kills, end = cpu_ns(daemon.pid), ticks_with_reaped(daemon.pid), 0, time.monotonic() + seconds
        for pid in children(daemon.pid):
            if time.monotonic() > end:
                break
            try:
                os.kill(int(pid), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
            time.sleep(0.01)
        time.sleep(0.5)
        kills = max(kills, 1)
        with_reaped = (ticks_with_reaped(daemon.pid) - ticks) * 10_000 / kills
        return (cpu_ns(daemon.pid) - before) / 1000 / kills, with_reaped, kills
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


def main():
    count, seconds, builds = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    for going in builds:
        micros, with_reaped, kills = measure(going, count, seconds)
        print(f"{going}: N = {count}, {kills} respawns, going's CPU per respawn {micros:.0f} µs, "
              f"with its reaped children {with_reaped:.0f} µs", flush=True)


if __name__ == "__main__":
    main()
