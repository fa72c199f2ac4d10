#!/usr/bin/env python3
"""What cgroups cost: cold start and respawn of 1000 services, with and without.

Usage: bench/cgroups.py [N]   (default 1000; only the default run is recorded in bench/RESULTS.md)

going runs once in a fresh cgroup (each service gets its own cgroup) and
once in a private mount namespace where the cgroup2 mount is read-only (it
tracks process groups, as on a machine without cgroups). For each it prints
the cold start of N services (until all run), and the respawn after kill -9
of a service that ran over 5 s (until its replacement has exec'd), median
and p90 of 200, with going's CPU per respawn.
"""
import ctypes, os, shutil, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import Going, ROOT, median_p90, read, record_section, services_running, wait_until  # noqa: E402
from scale import respawns  # noqa: E402

SECTION = "## cgroups (bench/cgroups.py)"


def cgroup2_mount():
    for line in read("/proc/self/mountinfo").splitlines():
        mount, _, filesystem = line.partition(" - ")
        if filesystem.split(" ")[0] == "cgroup2":
            return mount.split(" ")[4]
    raise SystemExit("no cgroup2 hierarchy")


class InCgroup(Going):
    name = "going-cgroups"

    def prepare(self, directory, count):
        argv = super().prepare(directory, count)
        own = read("/proc/self/cgroup").split("0::", 1)[1].split("\n")[0].rstrip("/")
        self.cgroup = f"{cgroup2_mount()}{own}/going-bench-{os.getpid()}"
        os.mkdir(self.cgroup)
        return ["sh", "-c", f"echo $$ > {self.cgroup}/cgroup.procs && exec \"$0\" \"$@\"", *argv]

    def stop(self):
        super().stop()
        with open(f"{self.cgroup}/cgroup.kill", "w") as f:
            f.write("1")
        wait_until("the cgroup to empty", lambda: "populated 0" in read(f"{self.cgroup}/cgroup.events"), 60)
        for path, _, _ in sorted(os.walk(self.cgroup), key=lambda entry: -len(entry[0])):
            os.rmdir(path)


class WithoutCgroups(Going):
    name = "going-process-groups"

    def prepare(self, directory, count):
        argv = super().prepare(directory, count)
        remount = f"mount -o remount,bind,ro {cgroup2_mount()} && exec \"$0\" \"$@\""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", remount, *argv]


def measure(kind, work, count):
    going = kind(work)
    begin = time.monotonic()
    going.start(count)
    wait_until(f"{count} services", lambda: len(services_running(count)) == count, 600)
    cold = time.monotonic() - begin
    latencies, cpu = respawns(going.process.pid, count, 200, time.monotonic())
    going.stop()
    return cold, median_p90(latencies), cpu


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    ctypes.CDLL(None).prctl(compare.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    os.system(f"cd {ROOT} && cargo build --release --quiet")
    work = tempfile.mkdtemp(prefix="going-cgroups-")
    lines = []
    for kind, label in ((InCgroup, "a cgroup per service"), (WithoutCgroups, "process groups only")):
        cold, (median, p90), cpu = measure(kind, work, count)
        line = (f"{label:22} cold start of {count}: {cold:.2f} s; respawn median {median * 1000:.2f} ms, "
                f"p90 {p90 * 1000:.2f} ms; going's CPU per respawn {cpu * 1e6:.0f} µs")
        lines.append(line)
        print(line)
    if len(sys.argv) == 1:
        record_section(SECTION, lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
