#!/usr/bin/env python3
"""going against runit, s6, daemontools and supervisord, in one run.

Usage: bench/compare.py [--quick] [PART...]
  PART: footprint respawn idle scale soak (default: all)
  --quick: smaller runs (no N=1000 for the peers, 10 respawn tries, 2,000 soak restarts)

Each supervisor is set up as its own documentation recommends (a runsvdir
service directory, an s6 scandir, an svscan directory, a supervisord.conf,
a going.d directory), with the same services: `sleep` with a unique argument.
Prints tables; a full run (every part, no --quick) writes bench/RESULTS.md
and bench/memory.svg (gnuplot).
Installs the peers from Debian's packages when missing. Every loop is
bounded in time; every process started is ended by its pid.
"""
import ctypes, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# GOING=/path/to/going measures that binary instead of building this tree (builds side by side).
GOING = os.environ.get("GOING") or os.path.join(ROOT, "target", "release", "going")
MARK = 7_700_000  # service i runs `sleep MARK+i`: its command line finds it
PR_SET_CHILD_SUBREAPER = 36
PACKAGES = {"runit": "runsvdir", "s6": "s6-svscan", "daemontools": "svscan", "supervisor": "supervisord"}


def marker(i):
    return f"sleep\0{MARK + i}\0".encode()


# ---------------------------------------------------------------- /proc

def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def parent_of(pid):
    stat = read(f"/proc/{pid}/stat")
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else None


def children_of(pid):
    text = read(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in text.split()] if text else []


def status_kb(pid, field):
    text = read(f"/proc/{pid}/status") or ""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def pss_kb(pid):
    text = read(f"/proc/{pid}/smaps_rollup") or ""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def context_switches(pid):
    return status_kb(pid, "voluntary_ctxt_switches") + status_kb(pid, "nonvoluntary_ctxt_switches")


def services_running(count):
    """pid of every service `sleep` that runs, by index."""
    found = {}
    wanted = {marker(i): i for i in range(count)}
    for pid in all_pids():
        cmdline = read(f"/proc/{pid}/cmdline", "rb")
        if cmdline in wanted:
            found[wanted[cmdline]] = pid
    return found


def descendants(root):
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children_of(pid))
    return tree


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_until(what, check, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.002)


# ---------------------------------------------------------------- the supervisors

def run_script(directory, i):
    os.makedirs(directory)
    path = os.path.join(directory, "run")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec sleep {MARK + i}\n")
    os.chmod(path, 0o755)


class Supervisor:
    """One supervisor under test: how to set it up for N services and start it."""
    name = ""
    note = ""

    def __init__(self, work):
        self.work = work
        self.process = None

    def start(self, count):
        argv = self.prepare(os.path.join(self.work, self.name.split()[0]), count)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)

    def supervisor_pids(self):
        """The supervisor's own processes: everything in its tree that is not a service."""
        return [pid for pid in descendants(self.process.pid)
                if not (read(f"/proc/{pid}/cmdline", "rb") or b"").startswith(b"sleep\0")]

    def stop(self):
        tree = descendants(self.process.pid)
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        for pid in services_running(20_000).values():
            os.kill(pid, signal.SIGKILL)
        wait_until("every service to be gone", lambda: (reap_orphans(), not services_running(20_000))[1], 60)
        shutil.rmtree(os.path.join(self.work, self.name.split()[0]), ignore_errors=True)


class Going(Supervisor):
    name = "going"

    def prepare(self, directory, count):
        services = os.path.join(directory, "going.d")
        os.makedirs(services)
        os.chmod(directory, 0o755)
        os.chmod(services, 0o755)
        for i in range(count):
            with open(os.path.join(services, f"s{i}"), "w") as f:
                f.write(f"cmd=sleep {MARK + i}\n")
        self.services = services
        return [GOING, "-d", services, "-r", f"/dev/shm/going-bench-{os.getpid()}"]

    def stop(self):
        super().stop()
        shutil.rmtree(f"/dev/shm/going-bench-{os.getpid()}", ignore_errors=True)
        remove_left_cgroups(f"going-bench-{os.getpid()}".replace("-", "\\x2d"))


def without_cgroups(argv):
    """`argv` run where every cgroup2 mount is read-only (in a mount namespace of its own), as
    the tests' fallback runs going: services tracked by process group, no cgroup per service."""
    mounts = read("/proc/self/mountinfo") or ""
    cgroup2 = [line.split()[4] for line in mounts.splitlines() if " - cgroup2 " in line]
    script = "mount --make-rprivate / && for m in $0; do mount -o remount,ro,bind \"$m\"; done; exec \"$@\""
    return ["unshare", "-m", "sh", "-c", script, " ".join(cgroup2)] + argv if cgroup2 else argv


def remove_left_cgroups(mark):
    """Removes the cgroups that a going killed with SIGKILL left (empty once its services
    are gone), deepest first: thousands left behind slow every later run's cgroup work."""
    for line in (read("/proc/self/mountinfo") or "").splitlines():
        mount, _, filesystem = line.partition(" - ")
        if filesystem.split(" ")[0] != "cgroup2":
            continue
        for top, dirs, _ in os.walk(mount.split(" ")[4]):
            for name in [name for name in dirs if name.startswith("going@") and mark in name]:
                dirs.remove(name)
                for path, _, _ in os.walk(os.path.join(top, name), topdown=False):
                    try:
                        os.rmdir(path)
                    except OSError:
                        pass


class ScanDirectory(Supervisor):
    """runit, s6 and daemontools: one directory per service with a run script."""

    def prepare(self, directory, count):
        for i in range(count):
            run_script(os.path.join(directory, f"s{i}"), i)
        return self.scanner_argv(directory, count)


class Runit(ScanDirectory):
    name = "runit (runsvdir)"
    note = "a cold start took about 1 s even for one service; runsv respawned at once after a long run"

    def scanner_argv(self, directory, count):
        return ["runsvdir", directory]


class S6(ScanDirectory):
    name = "s6 (s6-svscan)"
    note = "s6-supervise restarted a service about 1 s after its death even after 6 s of uptime (a designed delay)"

    def scanner_argv(self, directory, count):
        # s6-svscan maintains 500 services unless told more.
        return ["s6-svscan", "-c", str(max(500, 2 * count)), directory]


class Daemontools(ScanDirectory):
    name = "daemontools (svscan)"
    note = "supervise respawned at once after a long run"

    def scanner_argv(self, directory, count):
        return ["svscan", directory]


class Supervisord(Supervisor):
    name = "supervisord"
    note = "a Python daemon; it noticed deaths on its 1-second loop, so about 1 s (a designed delay)"

    def prepare(self, directory, count):
        os.makedirs(directory)
        conf = os.path.join(directory, "supervisord.conf")
        with open(conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile={directory}/supervisord.log\n")
            f.write(f"pidfile={directory}/supervisord.pid\nminfds=16384\nminprocs=16384\n")
            for i in range(count):
                f.write(f"[program:s{i}]\ncommand=sleep {MARK + i}\nautorestart=true\nstartsecs=1\n")
                f.write("stdout_logfile=NONE\nstderr_logfile=NONE\n")
        return ["supervisord", "-n", "-c", conf]


# ---------------------------------------------------------------- measurements

def cold_start(supervisor, count):
    start = time.monotonic()
    supervisor.start(count)
    wait_until(f"{supervisor.name}: {count} services", lambda: len(services_running(count)) == count, 300)
    return time.monotonic() - start


def footprint(supervisor):
    pids = supervisor.supervisor_pids()
    return {
        "processes": len(pids),
        "vmpeak": sum(status_kb(p, "VmPeak") for p in pids),
        "rss": sum(status_kb(p, "VmRSS") for p in pids),
        "pss": sum(pss_kb(p) for p in pids),
    }


def respawn_latencies(count, tries, all_started):
    """kill -9 services that have run for over 6 s; time until the replacement runs."""
    started = {index: all_started for index in range(count)}
    latencies = []
    for attempt in range(tries):
        index = attempt % count
        running = services_running(count)
        old = running[index]
        # Long enough for every peer's crash-loop window (going's is 5 s).
        ready_at = started[index] + 6.5
        while time.monotonic() < ready_at:
            time.sleep(0.05)
        parent = parent_of(old)
        # Only children that appear after the kill are read: a parent of 1000 services
        # (going, supervisord) must not cost the measurement 1000 reads per poll.
        before = set(children_of(parent))
        os.kill(old, signal.SIGKILL)
        begin = time.monotonic()
        deadline = begin + 10
        new = None
        while new is None:
            for child in set(children_of(parent)) - before:
                if read(f"/proc/{child}/cmdline", "rb") == marker(index):
                    new = child
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"no replacement for service {index} within 10 s")
            # Yield: a spinning poller takes one of two cores from the supervisor and its child.
            time.sleep(0.0001)
        latencies.append(time.monotonic() - begin)
        started[index] = time.monotonic()
        reap_orphans()
    return latencies


def median_p90(values):
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


# ---------------------------------------------------------------- parts

def part_footprint(work, peers, sizes, results):
    for peer in peers:
        for count in sizes:
            if count > 1000 and peer is not Going:
                continue
            supervisor = peer(work)
            seconds = cold_start(supervisor, count)
            wait_until("the supervisors to settle", lambda: footprint(supervisor)["processes"] >= 1, 10)
            time.sleep(0.5)  # let every supervisor finish its own start-up before reading memory
            results.setdefault("footprint", {})[(peer.name, count)] = footprint(supervisor)
            results.setdefault("cold", {})[(peer.name, count)] = seconds
            supervisor.stop()
            print(f"  {peer.name:22} N={count:5}: {results['footprint'][(peer.name, count)]}, cold start {seconds:.3f} s",
                  flush=True)


def part_respawn(work, peers, sizes, tries, results):
    for peer in peers:
        for count in sizes:
            supervisor = peer(work)
            cold_start(supervisor, count)
            latencies = respawn_latencies(count, tries, time.monotonic())
            supervisor.stop()
            results.setdefault("respawn", {})[(peer.name, count)] = median_p90(latencies)
            median, p90 = median_p90(latencies)
            print(f"  {peer.name:22} N={count:5}: respawn median {median * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms",
                  flush=True)


def part_idle(work, peers, results):
    for peer in peers:
        supervisor = peer(work)
        cold_start(supervisor, 100)
        time.sleep(1)  # past start-up work
        pids = supervisor.supervisor_pids()
        before = sum(context_switches(p) for p in pids)
        time.sleep(10)
        after = sum(context_switches(p) for p in pids)
        supervisor.stop()
        results.setdefault("idle", {})[peer.name] = after - before
        print(f"  {peer.name:22} context switches in 10 s idle with 100 services: {after - before}", flush=True)


def part_scale(work, results):
    supervisor = Going(work)
    seconds = cold_start(supervisor, 10_000)
    print_fp = footprint(supervisor)
    # One file changed, then SIGHUP: time until the changed service runs again.
    old = services_running(10_000)[1234]
    with open(os.path.join(supervisor.services, "s1234"), "w") as f:
        f.write(f"# changed\ncmd=sleep {MARK + 1234}\nenv=CHANGED=1\n")
    begin = time.monotonic()
    os.kill(supervisor.process.pid, signal.SIGHUP)
    wait_until("the changed service", lambda: services_running(1235).get(1234, old) != old, 60)
    rescan = time.monotonic() - begin
    supervisor.stop()
    results["scale"] = {"cold": seconds, "rescan": rescan, **print_fp}
    print(f"  going with 10,000 services: {print_fp}, cold start {seconds:.3f} s, "
          f"SIGHUP with one changed file to its new process {rescan * 1000:.0f} ms", flush=True)


def quiet_reading(pid):
    """RSS and descriptor count once the last start's pipe is closed."""
    time.sleep(0.2)
    return status_kb(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))


def part_soak(work, restarts, results):
    supervisor = Going(work)
    cold_start(supervisor, 1)
    pid = supervisor.process.pid
    run_dir = f"/dev/shm/going-bench-{os.getpid()}"
    fifo = os.open(os.path.join(run_dir, "control"), os.O_WRONLY)

    def restarts_done():
        for line in (read(os.path.join(run_dir, "s0")) or "").splitlines():
            if line.startswith("restarts="):
                return int(line[9:])
        return -1

    # Warm up, then measure: the first restarts grow the heap to its working size.
    measured = {}
    deadline = time.monotonic() + 1800
    for i in range(restarts):
        os.write(fifo, b"restart s0\n")
        while restarts_done() < i + 1:
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: only {i} restarts in 30 minutes")
        if i == 100:
            measured["start"] = quiet_reading(pid)
        reap_orphans()
    measured["end"] = quiet_reading(pid)
    os.close(fifo)
    supervisor.stop()
    results["soak"] = {"restarts": restarts, **measured}
    print(f"  going soak, {restarts} restarts: RSS and fds after 100 {measured['start']}, at the end {measured['end']}",
          flush=True)


# ---------------------------------------------------------------- report

def write_report(results, quick):
    lines = ["# Benchmark results", "",
             "Written by `bench/compare.py`" + (" --quick" if quick else "") + " on a 2-core machine; "
             "absolute numbers drift between runs on shared machines, the comparison within one run is what counts.",
             "Supervisor processes only (runsvdir and every runsv, s6-svscan and every s6-supervise, svscan and "
             "every supervise, supervisord, going); the services are `sleep`.", ""]
    if "footprint" in results:
        lines += ["## Footprint", "", "| supervisor | N | processes | sum VmPeak kB | sum RSS kB | sum Pss kB | cold start s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for (name, count), fp in results["footprint"].items():
            cold = results["cold"][(name, count)]
            lines.append(f"| {name} | {count} | {fp['processes']} | {fp['vmpeak']} | {fp['rss']} | {fp['pss']} | {cold:.3f} |")
        lines.append("")
    if "respawn" in results:
        lines += ["## Respawn latency", "", "kill -9 of a service that has run for over 6 s, until its replacement runs.", "",
                  "| supervisor | N | median ms | p90 ms |", "| --- | ---: | ---: | ---: |"]
        for (name, count), (median, p90) in results["respawn"].items():
            lines.append(f"| {name} | {count} | {median * 1000:.2f} | {p90 * 1000:.2f} |")
        lines.append("")
    if "idle" in results:
        lines += ["## Idle cost", "", "Context switches of the supervisor's processes in 10 s with 100 idle services.", "",
                  "| supervisor | context switches |", "| --- | ---: |"]
        lines += [f"| {name} | {count} |" for name, count in results["idle"].items()]
        lines.append("")
    if "scale" in results:
        s = results["scale"]
        lines += ["## going with 10,000 services", "",
                  f"VmPeak {s['vmpeak']} kB, RSS {s['rss']} kB, Pss {s['pss']} kB, cold start {s['cold']:.3f} s, "
                  f"SIGHUP with one changed file until its new process runs {s['rescan'] * 1000:.0f} ms.", ""]
    if "soak" in results:
        s = results["soak"]
        lines += ["## Soak", "",
                  f"{s['restarts']} restarts through the control FIFO: after 100, RSS {s['start'][0]} kB and "
                  f"{s['start'][1]} fds; at the end, RSS {s['end'][0]} kB and {s['end'][1]} fds.", ""]
    lines += ["## Bars", ""] + bars(results) + ["", "## Notes", ""]
    lines += [f"- {peer.name}: {peer.note}" for peer in (Runit, S6, Daemontools, Supervisord)]
    lines += ["- The peers' run scripts are `#!/bin/sh` + `exec sleep N`, as their documentation shows; going runs "
              "`cmd=sleep N` directly, which it can because it splits `cmd` itself.", ""]
    # bench/scale.py's section is its own: a full run here keeps it.
    scale = (read(os.path.join(ROOT, "bench", "RESULTS.md")) or "").partition("## Scale (bench/scale.py)")
    if scale[1]:
        lines += ["", scale[1] + scale[2].rstrip("\n")]
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))


def record_section(section, lines, intro=""):
    """Puts one script's printed lines in bench/RESULTS.md under `section`, replacing
    that section's older run and keeping every other section where it is."""
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    text = read(path) or "# Benchmark results\n"
    before, found, after = text.partition(section)
    rest = after[after.find("\n## "):] if found and "\n## " in after else ""
    body = "\n".join([section, "", f"One run on {time.strftime('%Y-%m-%d')}{intro}:", "", "```", *lines, "```", ""])
    with open(path, "w") as f:
        f.write(before.rstrip("\n") + "\n\n" + body + rest)


def bars(results):
    verdicts = []
    footprint = results.get("footprint", {})
    if ("going", 100) in footprint:
        going_pss = footprint[("going", 100)]["pss"]
        others = {name: fp["pss"] for (name, count), fp in footprint.items() if count == 100 and name != "going"}
        ok = all(going_pss < pss for pss in others.values())
        verdicts.append(f"- going's Pss at N=100 ({going_pss} kB) below every peer's: {'met' if ok else 'MISSED'}")
        vmpeak = footprint[("going", 100)]["vmpeak"]
        verdicts.append(f"- going's VmPeak at N=100 at most 512 kB: {vmpeak} kB, {'met' if vmpeak <= 512 else 'MISSED'}")
    if ("going", 1000) in footprint:
        vmpeak = footprint[("going", 1000)]["vmpeak"]
        verdicts.append(f"- going's VmPeak at N=1000 at most 1024 kB: {vmpeak} kB, {'met' if vmpeak <= 1024 else 'MISSED'}")
    respawn = results.get("respawn", {})
    for (name, count), (median, _) in respawn.items():
        if name == "going":
            peers = [m for (n, c), (m, _) in respawn.items() if c == count and n != "going" and m < 0.9]
            best = min(peers) if peers else None
            ok = median <= 0.002 and (best is None or median <= best)
            verdicts.append(f"- going's respawn median at N={count} at most 2 ms and not worse than the best peer "
                            f"without a designed delay ({best * 1000:.2f} ms): {median * 1000:.2f} ms, "
                            f"{'met' if ok else 'MISSED'}" if best else
                            f"- going's respawn median at N={count}: {median * 1000:.2f} ms (no peer without a delay)")
    cold = results.get("cold", {})
    if ("going", 1000) in cold:
        verdicts.append(f"- cold start of 1000 services under 1 s: {cold[('going', 1000)]:.3f} s, "
                        f"{'met' if cold[('going', 1000)] < 1 else 'MISSED'}")
    if "going" in results.get("idle", {}):
        count = results["idle"]["going"]
        verdicts.append(f"- zero context switches when idle: {count}, {'met' if count == 0 else 'MISSED'}")
    if "soak" in results:
        s = results["soak"]
        ok = s["end"][1] <= s["start"][1] and s["end"][0] <= s["start"][0]
        verdicts.append(f"- no growth of RSS or fds over the soak: {'met' if ok else 'MISSED'}")
    return verdicts


def plot(results):
    footprint = results.get("footprint", {})
    names = sorted({name for name, _ in footprint})
    data = os.path.join(ROOT, "bench", "memory.dat")
    with open(data, "w") as f:
        for index, name in enumerate(names):
            f.write(f"# {name}\n")
            for (n, count), fp in sorted(footprint.items(), key=lambda item: item[0][1]):
                if n == name:
                    f.write(f"{count} {fp['pss']}\n")
            f.write("\n\n")
    lines = ", ".join(f"'{data}' index {i} with linespoints title '{name}'" for i, name in enumerate(names))
    script = (f"set terminal svg size 720,440 dynamic; set output '{os.path.join(ROOT, 'bench', 'memory.svg')}';"
              "set logscale xy; set xlabel 'services'; set ylabel 'sum of Pss of the supervisor processes (kB)';"
              f"set key left top; set grid; plot {lines}")
    subprocess.run(["gnuplot", "-e", script], check=True)
    os.remove(data)


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    parts = [a for a in args if not a.startswith("--")] or ["footprint", "respawn", "idle", "scale", "soak"]
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if not os.environ.get("GOING"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    missing = [package for package, tool in PACKAGES.items() if not shutil.which(tool)]
    if missing or not shutil.which("gnuplot"):
        print(f"installing {' '.join(missing + ['gnuplot-nox'])} from Debian's packages", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing, "gnuplot-nox"], check=True, stdout=subprocess.DEVNULL)
    peers = [Going, Runit, S6, Daemontools, Supervisord]
    work = tempfile.mkdtemp(prefix="going-compare-")
    results = {}
    try:
        if "footprint" in parts:
            print("footprint and cold start", flush=True)
            part_footprint(work, peers, [1, 10, 100] if quick else [1, 10, 100, 1000], results)
        if "respawn" in parts:
            print("respawn latency", flush=True)
            part_respawn(work, peers, [10] if quick else [10, 1000], 10 if quick else 30, results)
        if "idle" in parts:
            print("idle cost", flush=True)
            part_idle(work, peers, results)
        if "scale" in parts:
            print("scale", flush=True)
            part_scale(work, results)
        if "soak" in parts:
            print("soak", flush=True)
            part_soak(work, 2_000 if quick else 100_000, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(bars(results)))
    # Only a full run replaces the published results; a partial one just prints.
    if quick or len(parts) < 5:
        print("partial run: bench/RESULTS.md and bench/memory.svg left as they are")
        return
    write_report(results, quick)
    plot(results)


if __name__ == "__main__":
    main()
