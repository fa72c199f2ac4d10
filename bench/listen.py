#!/usr/bin/env python3
"""What listen= buys: failed requests while a real server is killed again and again.

Usage: bench/listen.py [KILLS]   (default 20; only the default run is recorded in bench/RESULTS.md)

gunicorn (from PyPI, into bench/.venv, once) serves a trivial WSGI app under
going, twice in one run: once with `listen=` (going holds the socket and
gunicorn takes it through systemd's LISTEN_FDS), once binding its own port
(`-b`). A loopback client sends HTTP requests on fresh connections from two
threads, one every 5 ms each, while the gunicorn master is killed with
SIGKILL KILLS times, 6 s apart (past going's 5 s healthy run, so every respawn
is at once and no backoff blurs the comparison). It prints, for each way,
the requests sent, those that failed (refused, reset or unanswered within
10 s), and the latency (median and p99) of the requests sent within a second
of a kill, and of all.
"""
import http.client, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import GOING, ROOT, record_section, read  # noqa: E402

SECTION = "## listen= under kills (bench/listen.py)"
VENV = os.path.join(ROOT, "bench", ".venv")
GUNICORN = os.path.join(VENV, "bin", "gunicorn")
APP = 'def app(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok\\n"]\n'
GAP = 6.0


def install_gunicorn():
    if not os.path.exists(GUNICORN):
        subprocess.run(["/usr/bin/python3", "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "gunicorn"], check=True)
    return subprocess.run([GUNICORN, "--version"], capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status(run_dir, key):
    text = read(os.path.join(run_dir, "web")) or ""
    return next((line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")), None)


def wait_up(run_dir, other_than=None, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pid = status(run_dir, "pid")
        if status(run_dir, "state") == "up" and pid and pid != other_than:
            return pid
        time.sleep(0.01)
    raise SystemExit("gunicorn did not come up")


def load(port, stop, results):
    while not stop.is_set():
        sent = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/")
            ok = connection.getresponse().read() == b"ok\n"
            connection.close()
        except OSError:
            ok = False
        results.append((sent, time.monotonic() - sent, ok))
        time.sleep(0.005)


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


def run(work, way, kills):
    port = free_port()
    services, run_dir = os.path.join(work, way + ".d"), os.path.join(work, way + ".run")
    os.makedirs(services)
    os.chmod(services, 0o755)
    command = f"cmd={GUNICORN} --chdir {work} --workers 1 --graceful-timeout 1 "
    text = command + (f"app:app\nlisten=tcp:127.0.0.1:{port}\n" if way == "listen=" else f"-b 127.0.0.1:{port} app:app\n")
    with open(os.path.join(services, "web"), "w") as f:
        f.write(text + "stop_timeout=2\n")
    going = subprocess.Popen([GOING, "-d", services, "-r", run_dir], stderr=subprocess.DEVNULL)
    pid = wait_up(run_dir)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=load, args=(port, stop, results)) for _ in range(2)]
    for thread in threads:
        thread.start()
    killed_at = []
    for _ in range(kills):
        time.sleep(GAP)
        killed_at.append(time.monotonic())
        os.kill(int(pid), signal.SIGKILL)
        pid = wait_up(run_dir, other_than=pid)
    time.sleep(GAP)
    stop.set()
    for thread in threads:
        thread.join()
    going.send_signal(signal.SIGTERM)
    going.wait()
    near = [latency for sent, latency, ok in results if ok and any(abs(sent - at) < 1 for at in killed_at)]
    every = [latency for _, latency, ok in results if ok]
    failed = sum(1 for _, _, ok in results if not ok)
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"  # noqa: E731
    return (
        f"{way:<12} {len(results):>6} requests, {failed:>4} failed; "
        f"within 1 s of a kill: median {ms(percentile(near, 0.5))}, p99 {ms(percentile(near, 0.99))} "
        f"({len(near)} requests); all: median {ms(percentile(every, 0.5))}, p99 {ms(percentile(every, 0.99))}"
    )


def main():
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.system(f"cd {ROOT} && cargo build --release --quiet")
    version = install_gunicorn()
    work = tempfile.mkdtemp(prefix="going-listen-")
    os.chmod(work, 0o755)
    with open(os.path.join(work, "app.py"), "w") as f:
        f.write(APP)
    lines = [f"{version}, one sync worker; {kills} SIGKILLs of its master, {GAP:.0f} s apart; two client threads"]
    print(lines[0])
    for way in ["listen=", "own bind"]:
        lines.append(run(work, way, kills))
        print(lines[-1])
    shutil.rmtree(work, ignore_errors=True)
    if kills == 20:
        record_section(SECTION, lines)


if __name__ == "__main__":
    main()
