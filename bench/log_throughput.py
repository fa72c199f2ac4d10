#!/usr/bin/env python3
"""Log throughput: 200 MB of 100-byte lines through going's log=PATH, runit's
svlogd and s6-log, in the same run.

Usage: bench/log_throughput.py [MEGABYTES]   (default 200)

Every logger timestamps each line and rotates at 1 MB keeping 5 files
(going: log_size=1048576 log_keep=5; svlogd -tt with s1048576 n5; s6-log T
s1048576 n5). Prints MB/s, the logger's CPU seconds per 100 MB and its peak
RSS. Installs runit and s6 from Debian's packages when missing. The bar: going
at least as fast as svlogd, with RSS under 1 MB.
"""
import os, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOING = os.path.join(ROOT, "target", "release", "going")
LINE = "x" * 99  # with its newline, 100 bytes
MARK = "END-OF-FLOOD"


def writer_command(total_bytes):
    return f"yes {LINE} | head -c {total_bytes}; echo {MARK}"


def ensure_peers():
    missing = [p for p, tool in (("runit", "svlogd"), ("s6", "s6-log")) if not shutil.which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} from Debian's packages", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL)


def peer_run(name, logger_argv, log_dir, total_bytes):
    """A shell pipeline writer | logger; the logger exits at end of input."""
    start = time.monotonic()
    writer = subprocess.Popen(["sh", "-c", writer_command(total_bytes)], stdout=subprocess.PIPE)
    logger = subprocess.Popen(logger_argv, stdin=writer.stdout)
    writer.stdout.close()
    # rusage's maxrss would count the Python image the child had before exec: sample VmHWM instead.
    peak_kb, deadline = 0, start + 600
    while True:
        pid, status, usage = os.wait4(logger.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            logger.kill()
            raise SystemExit(f"{name}: not done in 600 s")
        peak_kb = max(peak_kb, vm_hwm_kb(logger.pid))
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    writer.wait()
    current = os.path.join(log_dir, "current")
    assert MARK in open(current).read()[-200:], f"{name}: the last line is missing"
    return elapsed, usage.ru_utime + usage.ru_stime, peak_kb


def vm_hwm_kb(pid):
    try:
        return int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:")))
    except (OSError, StopIteration):
        return 0


def proc_cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def going_run(work, total_bytes):
    services = os.path.join(work, "going.d")
    os.mkdir(services, 0o755)
    log = os.path.join(work, "going-log", "flood.log")
    os.mkdir(os.path.dirname(log))
    with open(os.path.join(services, "flood"), "w") as f:
        f.write(f"cmd=/bin/sh -c '{writer_command(total_bytes)}; exec sleep 100000'\n")
        f.write(f"log={log}\nlog_size=1048576\nlog_keep=5\n")
    start = time.monotonic()
    going = subprocess.Popen([GOING, "-d", services, "-r", os.path.join(work, "run")], stderr=subprocess.DEVNULL)
    try:
        deadline = start + 600
        while True:
            try:
                with open(log, "rb") as f:
                    f.seek(max(0, os.fstat(f.fileno()).st_size - 200))
                    if MARK.encode() in f.read():
                        break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("going: the flood did not reach the log in 600 s")
            time.sleep(0.001)
        elapsed = time.monotonic() - start
        cpu = proc_cpu_seconds(going.pid)
        peak_kb = vm_hwm_kb(going.pid)
    finally:
        going.send_signal(signal.SIGTERM)
        going.wait(timeout=30)
    return elapsed, cpu, peak_kb


def main():
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    total = megabytes * 1_000_000
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    ensure_peers()
    work = tempfile.mkdtemp(prefix="going-logbench-")
    results = {}
    try:
        results["going (log=PATH)"] = going_run(work, total)
        svlogd_dir = os.path.join(work, "svlogd")
        os.mkdir(svlogd_dir)
        with open(os.path.join(svlogd_dir, "config"), "w") as f:
            f.write("s1048576\nn5\n")
        results["runit svlogd -tt"] = peer_run("svlogd", ["svlogd", "-tt", svlogd_dir], svlogd_dir, total)
        s6_dir = os.path.join(work, "s6log")
        results["s6-log T"] = peer_run("s6-log", ["s6-log", "T", "s1048576", "n5", s6_dir], s6_dir, total)
    finally:
        shutil.rmtree(work)
    print(f"{megabytes} MB of 100-byte lines, timestamped, rotated at 1 MB keeping 5:")
    print(f"  {'logger':20} {'MB/s':>8} {'CPU s/100 MB':>13} {'peak RSS':>10}")
    for name, (elapsed, cpu, rss_kb) in results.items():
        print(f"  {name:20} {megabytes / elapsed:8.1f} {cpu * 100 / megabytes:13.2f} {rss_kb:8d} kB")
    going_speed = megabytes / results["going (log=PATH)"][0]
    svlogd_speed = megabytes / results["runit svlogd -tt"][0]
    verdict = "meets" if going_speed >= svlogd_speed else "MISSES"
    print(f"bar: going at least as fast as svlogd: {verdict} ({going_speed:.1f} vs {svlogd_speed:.1f} MB/s); "
          f"going peak RSS {results['going (log=PATH)'][2]} kB (bar: under 1024 kB)")


if __name__ == "__main__":
    main()
