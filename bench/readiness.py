#!/usr/bin/env python3
"""What readiness and start order cost: a chain of 100 services, each
`after=` the previous and `ready=fd:3`, against 100 independent ones.

Usage: bench/readiness.py   (records its run in bench/RESULTS.md)

Each service runs bench/ready_now.rs (built static here), which notes when
it started and when it said it was ready (CLOCK_MONOTONIC), then writes the
newline at once. It prints:
- from going's start until the last of the chain is up (goingctl wait, on
  inotify), and until all 100 independent services are up;
- per link of the chain, median and p90 of the gap from one service saying
  it is ready to the next one's start: going reading the newline, publishing,
  forking and setting up the child, plus the exec of the next program;
- the program's own start: from just before a posix_spawn of it (from this
  script) to its start, median and p90 of 100;
- going's overhead per link: the gap's median minus the program's own start
  (the bar: under 0.2 ms);
- going's context switches while idle for 10 s with all 100 up (must be 0).
"""
import os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import GOING, ROOT, context_switches, median_p90, record_section  # noqa: E402

GOINGCTL = os.path.join(ROOT, "target", "release", "goingctl")
COUNT = 100
SECTION = "## Readiness (bench/readiness.py)"


def build_program(work):
    program = os.path.join(work, "ready_now")
    source = os.path.join(ROOT, "bench", "ready_now.rs")
    subprocess.run(["rustc", "-O", "-C", "target-feature=+crt-static", "-o", program, source], check=True)
    return program


def run(work, program, chained):
    """Starts going on COUNT services; returns (seconds until all up, start/ready times, going's pid)."""
    services = os.path.join(work, "chain.d" if chained else "flat.d")
    times = os.path.join(work, "times-chain" if chained else "times-flat")
    run_dir = f"/dev/shm/going-readiness-{os.getpid()}"
    os.makedirs(services)
    os.chmod(services, 0o755)
    for i in range(COUNT):
        after = f"after=s{i - 1:03}\n" if chained and i > 0 else ""
        with open(os.path.join(services, f"s{i:03}"), "w") as f:
            f.write(f"cmd={program} {times}\nready=fd:3\n{after}")
    names = [f"s{i:03}" for i in range(COUNT)]
    log = open(os.path.join(work, "going.log"), "ab")
    begin = time.monotonic()
    going = subprocess.Popen([GOING, "-d", services, "-r", run_dir], stderr=log)
    # goingctl wait needs going's lock: try again until going has taken it.
    waited = names[-1:] if chained else names
    while (code := subprocess.run([GOINGCTL, "-r", run_dir, "wait", "-t", "60", *waited],
                                  stderr=subprocess.DEVNULL).returncode) == 69:
        if time.monotonic() - begin > 60:
            raise SystemExit("going did not start")
        time.sleep(0.001)
    if code != 0:
        raise SystemExit(f"goingctl wait exited {code}: the services were not all up")
    took = time.monotonic() - begin
    idle = None
    if chained:
        before = context_switches(going.pid)
        time.sleep(10)
        idle = context_switches(going.pid) - before
    going.terminate()
    going.wait()
    shutil.rmtree(run_dir, ignore_errors=True)
    with open(times) as f:
        pairs = [tuple(int(value) for value in line.split()) for line in f]
    return took, sorted(pairs), idle


def own_start(program, work):
    """From just before posix_spawn of the program to its start, nanoseconds, 100 times."""
    times = os.path.join(work, "times-alone")
    starts = []
    for _ in range(100):
        read_end, write_end = os.pipe()
        before = time.monotonic_ns()
        pid = os.posix_spawn(program, [program, times], {}, file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 3)])
        os.close(write_end)
        os.read(read_end, 1)
        os.close(read_end)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        with open(times) as f:
            start = int(f.readlines()[-1].split()[0])
        starts.append(start - before)
    return starts


def main():
    work = tempfile.mkdtemp(prefix="going-readiness-")
    os.chmod(work, 0o755)
    os.system(f"cd {ROOT} && cargo build --release --quiet")
    program = build_program(work)
    lines = []

    def say(text):
        lines.append(text)
        print(text)
    chain_seconds, chain, idle = run(work, program, chained=True)
    flat_seconds, _, _ = run(work, program, chained=False)
    gaps = [chain[i + 1][0] - chain[i][1] for i in range(len(chain) - 1)]
    gap_median, gap_p90 = median_p90(gaps)
    alone_median, alone_p90 = median_p90(own_start(program, work))
    overhead = (gap_median - alone_median) / 1e6
    say(f"{COUNT} services, each ready=fd:3 and ready at once (bench/ready_now.rs, static)")
    say(f"chain (each after= the previous), going's start until the last is up: {chain_seconds * 1000:.1f} ms "
        f"({chain_seconds * 1000 / COUNT:.2f} ms a link)")
    say(f"independent, going's start until all are up:                         {flat_seconds * 1000:.1f} ms")
    say(f"gap from one link ready to the next one's start: median {gap_median / 1e6:.3f} ms, p90 {gap_p90 / 1e6:.3f} ms")
    say(f"the program's own start (posix_spawn to main):    median {alone_median / 1e6:.3f} ms, "
        f"p90 {alone_p90 / 1e6:.3f} ms")
    verdict = "met" if overhead < 0.2 else "MISSED"
    say(f"going's overhead per link: {overhead:.3f} ms (bar: under 0.2 ms: {verdict})")
    say(f"going's context switches in 10 s idle with the chain up: {idle} (bar: 0: {'met' if idle == 0 else 'MISSED'})")
    record_section(SECTION, lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
