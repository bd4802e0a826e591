#!/usr/bin/env python3
"""rgen vs PM2 on the same machine, the same Node apps, in one run (see bench/run).

Runs inside a container booted by tests/harness/systemd-harness, so rgen's apps are real systemd
units and PM2's are children of a real PM2 daemon. Prints medians and rgen/PM2 ratios as a
Markdown table. Every scenario uses its own ports and app names.
"""

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

RGEN = os.environ["RGEN_BIN"]
PM2 = os.environ["PM2_BIN"]
WORK = "/var/tmp/rgen-bench"
ENV = dict(
    os.environ,
    PM2_HOME=f"{WORK}/pm2-home",
    PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    NO_COLOR="1",
    # The bench's ecosystem files are root's and their apps run as root, as they say.
    RGEN_RUN_AS="root",
)

SERVER_JS = r"""
const http = require('http');
const server = http.createServer((req, res) => res.end(JSON.stringify({ pid: process.pid })));
server.listen(Number(process.env.PORT), () => { if (process.send) process.send('ready'); });
process.on('SIGINT', () => server.close(() => process.exit(0)));
"""

# Grows by 16 MiB of touched memory every 100 ms, up to 480 MiB, then holds.
GROW_JS = r"""
const held = [];
const timer = setInterval(() => {
  if (held.length < 30) held.push(Buffer.alloc(16 << 20, 1));
}, 100);
process.on('SIGINT', () => process.exit(0));
"""

RESULTS = []  # (section, measure, rgen, pm2, unit, lower_is_better)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, check=True, capture=False, cwd=None):
    # A leading dict is extra environment for this command alone.
    env = ENV
    if argv and isinstance(argv[0], dict):
        env, argv = dict(ENV, **argv[0]), argv[1:]
    r = subprocess.run(argv, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    return r


def rgen(*args):
    return run([RGEN, *args, "--system"])


def pm2(*args, capture=False, cwd=None):
    return run([PM2, *args], capture=capture, cwd=cwd)


def pm2_start(d):
    # As PM2 users do: from the project directory (PM2 resolves `script` against the shell's cwd).
    pm2("start", "ecosystem.config.js", cwd=d)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def ecosystem(name, apps):
    """An ecosystem file in its own directory (the directory names rgen's group)."""
    d = f"{WORK}/{name}"
    write(f"{d}/server.js", SERVER_JS)
    write(f"{d}/grow.js", GROW_JS)
    write(f"{d}/ecosystem.config.js", "module.exports = " + json.dumps({"apps": apps}, indent=2) + ";\n")
    return d


def median_ms_pair(a, b, runs=40, warmup=3):
    """Medians of two commands' wall times, run alternately so that load from other work on the
    machine falls on both alike."""
    for _ in range(warmup):
        run(a)
        run(b)
    sa, sb = [], []
    for _ in range(runs):
        for argv, samples in ((a, sa), (b, sb)):
            t = time.perf_counter()
            run(argv)
            samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(sa), statistics.median(sb)


def request(port, timeout=2.0):
    """One request on a new connection: the answering pid, or the exception's name."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        body = data.split(b"\r\n\r\n", 1)[1]
        return json.loads(body)["pid"]
    except Exception as e:  # noqa: BLE001 — every failure counts as a failed request
        return type(e).__name__


def wait_answering(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if isinstance(request(port, 1.0), int):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on {port}")


def pm2_online(names, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        procs = json.loads(pm2("jlist", capture=True).stdout or "[]")
        state = {p["name"]: p["pm2_env"]["status"] for p in procs}
        if all(state.get(n) == "online" for n in names):
            return procs
        time.sleep(0.1)
    raise SystemExit(f"PM2 apps not online: {names}")


def rss(pid, field="VmRSS"):
    """Resident memory from /proc/<pid>/status: VmRSS (all of it) or RssAnon (what the process
    allocated itself, without the shared pages of the node binary and libraries)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def pss(pid):
    """Proportional set size: resident memory with shared pages divided among their users — what
    a process really adds to the machine."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def record(section, measure, r, p, unit, lower_is_better=True):
    RESULTS.append((section, measure, r, p, unit, lower_is_better))
    log(f"  {measure}: rgen {fmt(r, unit)}, PM2 {fmt(p, unit)}")


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v:.2f} ms" if abs(v) < 1 else f"{v:.1f} ms"
    if unit == "req/s":
        return f"{v:,.0f} req/s"
    if unit == "MiB":
        return f"{v / (1 << 20):.1f} MiB"
    if unit == "%":
        return f"{v:.2f} %"
    return f"{v:g}"


# ---------------------------------------------------------------- status latency

def bench_status():
    for n in (3, 200):
        log(f"status: {n} apps")
        name = f"status{n}"
        apps = [{"name": f"s{n}-{i}", "script": "/bin/sleep", "args": "infinity"} for i in range(n)]
        d = ecosystem(name, apps)
        run([RGEN, "install", f"{d}/ecosystem.config.js", "--system"])
        pm2_start(d)
        pm2_online([a["name"] for a in apps], 120)
        r, p = median_ms_pair([RGEN, "status", "--json", "--system"], [PM2, "jlist"])
        record("status", f"`rgen status --json` vs `pm2 jlist`, {n} apps (medians of 40, alternating)", r, p, "ms")
        # The same through dbus-daemon instead of the manager's private socket.
        r, p = median_ms_pair([{"RGEN_DBUS_VIA": "bus"}, RGEN, "status", "--json", "--system"], [PM2, "jlist"])
        record("status", f"the same through the bus (`RGEN_DBUS_VIA=bus`), {n} apps", r, p, "ms")
        rgen("uninstall", name)
        pm2("delete", "all")


def status_cost_per_app():
    """The slope between the 3- and 200-app status rows: what one more app costs."""
    for prefix, label in (("`rgen status --json`", ""), ("the same through the bus", ", through the bus")):
        rows = {m: (r, p) for _, m, r, p, _, _ in RESULTS if m.startswith(prefix)}
        small = next((v for m, v in rows.items() if m.endswith(" 3 apps") or ", 3 apps " in m), None)
        big = next((v for m, v in rows.items() if m.endswith(" 200 apps") or ", 200 apps " in m), None)
        if small and big:
            record("status", f"cost per added app{label} (slope between the 3- and 200-app rows)",
                   (big[0] - small[0]) / 197, (big[1] - small[1]) / 197, "ms")


# ---------------------------------------------------------------- monitors

def tree_cpu_ticks(root):
    """utime+stime of a process and all its descendants, in clock ticks."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(p), int(fields[11]) + int(fields[12])))
    total, stack = 0, [root]
    try:
        fields = open(f"/proc/{root}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    while stack:
        for pid, ticks in children.get(stack.pop(), []):
            total += ticks
            stack.append(pid)
    return total


def cpu_in_pty(argv, seconds=60, warmup=5, cols=120, rows=40):
    """Runs a full-screen program in a pseudo-terminal of its own (as a person's terminal would
    be), reads everything it draws, and returns its CPU use (with its children) over `seconds`
    after `warmup`, in % of one core."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, dict(ENV, TERM="xterm-256color"))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    done = threading.Event()

    def drain():
        while not done.is_set():
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(warmup)
    start, t0 = tree_cpu_ticks(pid), time.perf_counter()
    time.sleep(seconds)
    end, t1 = tree_cpu_ticks(pid), time.perf_counter()
    os.kill(pid, signal.SIGTERM)
    deadline, exited = time.time() + 5, False
    while time.time() < deadline and not exited:
        exited = os.waitpid(pid, os.WNOHANG) != (0, 0)
        time.sleep(0.05)
    if not exited:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    done.set()
    os.close(fd)
    if start is None or end is None:
        return None
    return (end - start) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100


def bench_monit(n=50, seconds=60):
    log(f"monit: {n} apps, one refresh a second, {seconds} s each in a pty")
    apps = [{"name": f"m{n}-{i}", "script": "/bin/sleep", "args": "infinity"} for i in range(n)]
    d = ecosystem(f"monit{n}", apps)
    run([RGEN, "install", f"{d}/ecosystem.config.js", "--system"])
    pm2_start(d)
    pm2_online([a["name"] for a in apps], 120)
    r = cpu_in_pty([RGEN, "monit", "--system", "--interval", "1000"], seconds)
    p = cpu_in_pty([PM2, "monit"], seconds)
    record("monit", f"`rgen monit` vs `pm2 monit`, {n} apps, CPU over {seconds} s (% of one core, in a pty)", r, p, "%")
    rgen("uninstall", f"monit{n}")
    pm2("delete", "all")


# ---------------------------------------------------------------- serving

def wrk(port, close):
    argv = ["wrk", "-t2", "-c32", "-d6s", f"http://127.0.0.1:{port}/"]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return float(m.group(1)), errors.group(0) if errors else ""


class Load:
    """Sequential requests on new connections; records failures and the longest gap between
    successful answers (the outage a client sees)."""

    def __init__(self, port):
        self.port, self.stop, self.ok, self.failed, self.longest = port, False, 0, 0, 0.0
        self.pids = set()
        self.thread = threading.Thread(target=self.loop)

    def loop(self):
        last = time.perf_counter()
        while not self.stop:
            r = request(self.port)
            now = time.perf_counter()
            if isinstance(r, int):
                self.ok += 1
                self.pids.add(r)
                self.longest = max(self.longest, now - last)
                last = now
            else:
                self.failed += 1

    def __enter__(self):
        self.thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)
        self.stop = True
        self.thread.join()


def reload_outage(port, reload_argv, rounds=3):
    fails, outages = [], []
    for _ in range(rounds):
        with Load(port) as load:
            run(reload_argv)
        fails.append(load.failed)
        outages.append(load.longest * 1000)
    return sum(fails), statistics.median(outages)


def crash_recovery(port, rounds=5):
    """kill -9 of the answering process; time until a request succeeds again, and how many
    attempts were refused meanwhile."""
    times, refused = [], 0
    for _ in range(rounds):
        wait_answering(port)
        pid = request(port)
        time.sleep(0.3)
        t = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        while True:
            r = request(port, timeout=5.0)
            if isinstance(r, int) and r != pid:
                break
            if r == "ConnectionRefusedError":
                refused += 1
            time.sleep(0.002)
        times.append((time.perf_counter() - t) * 1000)
        time.sleep(1.5)  # both managers count fast crashes; stay clear of their limits
    return statistics.median(times), refused


def bench_serve():
    log("serving: cluster ×2, single instance, plain node")
    d = ecosystem(
        "serve",
        [
            {"name": "cl-rgen", "script": "server.js", "instances": 2, "exec_mode": "cluster", "port": 5101},
            {"name": "one-rgen", "script": "server.js", "port": 5103},
        ],
    )
    run([RGEN, "install", f"{d}/ecosystem.config.js", "--system"])
    p = ecosystem(
        "serve-pm2",
        [
            {"name": "cl-pm2", "script": "server.js", "instances": 2, "exec_mode": "cluster", "env": {"PORT": "5102"}},
            {"name": "one-pm2", "script": "server.js", "env": {"PORT": "5104"}},
        ],
    )
    pm2_start(p)
    pm2_online(["cl-pm2", "one-pm2"])
    plain = subprocess.Popen(["node", f"{d}/server.js"], env=dict(ENV, PORT="5105"))
    for port in (5101, 5102, 5103, 5104, 5105):
        wait_answering(port)
    time.sleep(2)  # let every process settle before comparing sizes

    # Resident memory that is not the app, measured before any load.
    daemon = next(
        (int(pid) for pid in os.listdir("/proc") if pid.isdigit() and "God Daemon" in cmdline(pid)), None
    )
    shim_pss = sum(pss(int(pid)) or 0 for pid in os.listdir("/proc") if pid.isdigit() and "rgen-shim" in cmdline(pid) and "one-rgen" in cmdline(pid))
    record("memory", "manager process, PSS (PM2 daemon; rgen: none, systemd runs anyway)", 0, pss(daemon) if daemon else None, "MiB")
    one_pm2 = next(pr["pid"] for pr in json.loads(pm2("jlist", capture=True).stdout) if pr["name"] == "one-pm2")
    one_rgen = request(5103)
    plain_anon = rss(plain.pid, "RssAnon") or 0
    record("memory", "inside the app (its RssAnon minus a plain `node server.js`'s)",
           (rss(one_rgen, "RssAnon") or 0) - plain_anon, (rss(one_pm2, "RssAnon") or 0) - plain_anon, "MiB")
    record("memory", "beside the app, PSS (rgen-shim; PM2: none)", shim_pss, 0, "MiB")

    for close, label in ((False, "keep-alive"), (True, "new connection per request")):
        r, p_, base = [], [], []
        for _ in range(3):
            r.append(wrk(5101, close)[0])
            p_.append(wrk(5102, close)[0])
            base.append(wrk(5105, close)[0])
        record("throughput", f"cluster ×2, {label} (wrk, median of 3; one plain node: {statistics.median(base):,.0f} req/s)",
               statistics.median(r), statistics.median(p_), "req/s", lower_is_better=False)

    rf, ro = reload_outage(5101, [RGEN, "reload", "cl-rgen", "--system"])
    pf, po = reload_outage(5102, [PM2, "reload", "cl-pm2"])
    record("reload", "cluster ×2: failed requests over 3 reloads", rf, pf, "")
    record("reload", "cluster ×2: longest outage (median of 3)", ro, po, "ms")
    rf, ro = reload_outage(5103, [RGEN, "reload", "one-rgen", "--system"])
    pf, po = reload_outage(5104, [PM2, "reload", "one-pm2"])
    record("reload", "single instance: failed requests over 3 reloads", rf, pf, "")
    record("reload", "single instance: longest outage (median of 3)", ro, po, "ms")

    rt, rr = crash_recovery(5103)
    pt, pr = crash_recovery(5104)
    record("crash", "kill -9 → serving again (median of 5)", rt, pt, "ms")
    record("crash", "refused connections meanwhile (5 crashes)", rr, pr, "")

    plain.terminate()
    rgen("uninstall", "serve")
    pm2("delete", "all")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def peak_before_restart(find_pid, seconds):
    """Samples the app's RSS every 10 ms until its pid changes (it was restarted)."""
    pid, peak = None, 0
    deadline = time.time() + 10
    while pid is None and time.time() < deadline:
        pid = find_pid()
        time.sleep(0.05)
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = rss(pid, "RssAnon")
        if r is None:
            return peak
        peak = max(peak, r)
        time.sleep(0.01)
    return peak


def bench_memory():
    log("memory limit: an app growing 160 MiB/s under max_memory_restart: '100M'")
    limit = 100 << 20
    d = ecosystem("mem", [{"name": "mem-rgen", "script": "grow.js", "max_memory_restart": "100M"}])
    run([RGEN, "install", f"{d}/ecosystem.config.js", "--system"])

    def rgen_pid():
        out = run([RGEN, "status", "--json", "--system", "mem-rgen"], capture=True).stdout
        pid = json.loads(out)["apps"][0]["pid"]
        return pid

    r = peak_before_restart(rgen_pid, 20)
    rgen("uninstall", "mem")
    p = ecosystem("mem-pm2", [{"name": "mem-pm2", "script": "grow.js", "max_memory_restart": "100M"}])
    pm2_start(p)
    procs = pm2_online(["mem-pm2"])
    pid = next(x["pid"] for x in procs if x["name"] == "mem-pm2")
    # PM2's worker checks memory every 30 s.
    p_peak = peak_before_restart(lambda: pid, 70)
    pm2("delete", "all")
    record("memory", "allocated memory (RssAnon) over max_memory_restart before the restart", max(0, r - limit), max(0, p_peak - limit), "MiB")


def table():
    lines = ["| scenario | rgen | PM2 | rgen/PM2 |", "|---|---|---|---|"]
    for _, measure, r, p, unit, _lower in RESULTS:
        ratio = "-"
        if isinstance(r, (int, float)) and isinstance(p, (int, float)) and p:
            ratio = f"{r / p:.3f}"
        lines.append(f"| {measure} | {fmt(r, unit)} | {fmt(p, unit)} | {ratio} |")
    return "\n".join(lines)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    os.makedirs(WORK, exist_ok=True)
    try:
        if what in ("all", "status"):
            bench_status()
            status_cost_per_app()
        if what in ("all", "monit"):
            bench_monit()
        if what in ("all", "serve"):
            bench_serve()
            bench_memory()
    finally:
        subprocess.run([PM2, "kill"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(table())


if __name__ == "__main__":
    main()
