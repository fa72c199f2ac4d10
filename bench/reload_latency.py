#!/usr/bin/env python3
"""Live configuration latency: from `mv` of a service file into going's
directory to the new service's process existing.

Usage: bench/reload_latency.py [TRIES]   (default 30)
Prints the median and p90. The bar: within 100 ms on an idle machine.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOING = os.path.join(ROOT, "target", "release", "going")


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return set(f.read().split())


def wait_for_inotify(pid):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    return
            except FileNotFoundError:  # a descriptor closed while listing
                pass
        time.sleep(0.001)
    raise SystemExit("going set up no inotify watch within 10 s")


def main():
    tries = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="going-bench-")
    directory = os.path.join(work, "going.d")
    os.mkdir(directory, 0o755)
    going = subprocess.Popen([GOING, "-d", directory, "-r", directory + ".run"], stderr=subprocess.DEVNULL)
    latencies = []
    try:
        wait_for_inotify(going.pid)
        for i in range(tries):
            staged = os.path.join(work, f"s{i}")
            with open(staged, "w") as f:
                f.write(f"cmd=/bin/sleep {100000 + i}\n")
            before = children(going.pid)
            start = time.monotonic()
            os.rename(staged, os.path.join(directory, f"s{i}"))
            deadline = start + 10
            while len(children(going.pid) - before) == 0:
                if time.monotonic() > deadline:
                    raise SystemExit(f"try {i}: no new service within 10 s")
                time.sleep(0.0002)
            latencies.append(time.monotonic() - start)
    finally:
        going.send_signal(signal.SIGTERM)
        going.wait(timeout=30)
        shutil.rmtree(work)
        shutil.rmtree(directory + ".run", ignore_errors=True)
    latencies.sort()
    p90 = latencies[int(round(0.9 * (len(latencies) - 1)))]
    print(f"mv to running service over {tries} tries: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p90 {p90 * 1000:.1f} ms (bar: 100 ms)")


if __name__ == "__main__":
    main()
