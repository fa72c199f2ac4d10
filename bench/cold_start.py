#!/usr/bin/env python3
"""Cold start: time from launching going to all N services running.

Usage: bench/cold_start.py [N] [RUNS]   (defaults 1000 and 7)
Prints the median and p90 over RUNS runs. Runs a release build.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOING = os.path.join(ROOT, "target", "release", "going")
# Status files go where a real going keeps them: a tmpfs, as /run is.
RUN_DIR = f"/dev/shm/going-bench-run-{os.getpid()}"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return len(f.read().split())
    except OSError:
        return 0


def one_run(count):
    directory = tempfile.mkdtemp(prefix="going-bench-")
    os.chmod(directory, 0o755)
    for i in range(count):
        with open(os.path.join(directory, f"s{i}"), "w") as f:
            f.write("cmd=/bin/sleep 100000\n")
    start = time.monotonic()
    going = subprocess.Popen([GOING, "-d", directory, "-r", RUN_DIR], stderr=subprocess.DEVNULL)
    try:
        deadline = start + 60
        while children(going.pid) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {children(going.pid)} of {count} started in 60 s")
            time.sleep(0.0005)
        return time.monotonic() - start
    finally:
        going.send_signal(signal.SIGTERM)
        going.wait(timeout=30)
        shutil.rmtree(directory)
        shutil.rmtree(RUN_DIR, ignore_errors=True)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    times = sorted(one_run(count) for _ in range(runs))
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    print(f"cold start of {count} services over {runs} runs: "
          f"median {statistics.median(times) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (bar: under 1000 ms)")


if __name__ == "__main__":
    main()
