#!/usr/bin/env python3
"""Cold start: time from launching going to all N services running.

Usage: bench/cold_start.py [N] [RUNS] [--commit REV]... [--going PATH]... [--without-cgroups]
       (defaults 1000 and 7)
Prints the median and p90 over RUNS runs of a release build, and the median
of going's own CPU time (utime + stime from /proc, in 10 ms ticks) until then;
with --commit,
also of a release build of each REV (a git worktree in /tmp), the runs of
every build taken in turn in one run, so that the machine's drift hits all
alike; with --going, also of that binary as it is. --without-cgroups runs
every build in a mount namespace of its own where the cgroup2 mount is
read-only, so that going starts no cgroup per service (1.0.0 had none). A
run of 1000 with --commit and no other option is recorded in
bench/RESULTS.md.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import record_section, without_cgroups as read_only_cgroups  # noqa: E402

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


def cpu_ms(pid):
    """The CPU time `pid` has used itself (utime + stime), in milliseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def one_run(count, going=GOING, without_cgroups=False):
    """Seconds from launching going until it has `count` children, and its CPU time by then."""
    directory = tempfile.mkdtemp(prefix="going-bench-")
    os.chmod(directory, 0o755)
    for i in range(count):
        with open(os.path.join(directory, f"s{i}"), "w") as f:
            f.write("cmd=/bin/sleep 100000\n")
    start = time.monotonic()
    argv = [going, "-d", directory, "-r", RUN_DIR]
    if without_cgroups:
        argv = read_only_cgroups(argv)
    going = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        deadline = start + 60
        while children(going.pid) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {children(going.pid)} of {count} started in 60 s")
            time.sleep(0.0005)
        return time.monotonic() - start, cpu_ms(going.pid)
    finally:
        going.send_signal(signal.SIGTERM)
        going.wait(timeout=30)
        shutil.rmtree(directory)
        shutil.rmtree(RUN_DIR, ignore_errors=True)


def build_commit(rev):
    """A release build of commit `rev`, in a worktree of its own."""
    tree = f"/tmp/going-cold-start-{rev}"
    if not os.path.exists(tree):
        subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=tree, check=True)
    version = subprocess.run([f"{tree}/target/release/going", "-v"], capture_output=True, text=True).stdout.strip()
    return f"{version} ({rev})", f"{tree}/target/release/going"


def main():
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    commits = [sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == "--commit"]
    binaries = [sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == "--going"]
    args = [arg for arg in args if arg not in commits + binaries]
    without_cgroups = "--without-cgroups" in sys.argv
    count = int(args[0]) if len(args) > 0 else 1000
    runs = int(args[1]) if len(args) > 1 else 7
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    this = subprocess.run([GOING, "-v"], capture_output=True, text=True).stdout.strip()
    builds = [(f"{this} (this tree)", GOING)] + [build_commit(rev) for rev in commits] + [(b, b) for b in binaries]
    times = {label: [] for label, _ in builds}
    cpu = {label: [] for label, _ in builds}
    for _ in range(runs):
        for label, going in builds:
            elapsed, used = one_run(count, going, without_cgroups)
            times[label].append(elapsed)
            cpu[label].append(used)
    lines = []
    for label, _ in builds:
        ordered = sorted(times[label])
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        lines.append(f"{label}: cold start of {count} services{' without cgroups' * without_cgroups} over {runs} runs: "
                     f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms; "
                     f"going's CPU median {statistics.median(cpu[label]):.0f} ms")
        print(lines[-1])
    if commits and not binaries and not without_cgroups and count == 1000:
        record_section("## Cold start beside earlier builds (bench/cold_start.py)", lines,
                       ", the builds' runs taken in turn")


if __name__ == "__main__":
    main()
