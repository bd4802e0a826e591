#!/usr/bin/env python3
"""Log rotation under load: rgen-shim's rename rotation vs pm2-logrotate and logrotate.

An app writes numbered lines at a fixed rate (default 50,000 lines/s, one write(2) per line, as
console.log does) for a while; the log is rotated by size meanwhile. Afterwards every file is
read back and each number counted: lost = never seen, duplicated = seen more than once. The
same writer, rate and size limit for every row, one after the other in one run.

  rgen-shim      the app writes into the shim's pipe; the shim writes the file and rotates it
                 by rename (--log-max-size, checked on every write).
  pm2-logrotate  the app runs under a PM2 daemon, which writes the file; pm2-logrotate (a PM2
                 module, `pm2 install pm2-logrotate`) copies it and truncates it once it is past
                 max_size, checking every workerInterval (1 s here; its default is 30 s).
  logrotate      the app appends to the file itself (O_APPEND, as systemd's `append:` does);
                 `logrotate` with `copytruncate` and `size` runs once a second, as a cron job
                 would run it far less often.

CPU is user+system time. Writer: what puts the lines in the file besides the app itself — the
shim (from wait4, minus the app's self-reported time), the PM2 daemon (its /proc time over the
run, which also answers pm2-logrotate's `pm2.list` every interval). Rotation: the PM2 module's
/proc time over the run, the sum of every logrotate run; the shim's is part of its writer time.

Needs python3 and rgen-shim (built); node and npm for the pm2-logrotate row (PM2 comes from the
npm registry into a temporary directory, and `pm2 install pm2-logrotate` fetches the module;
`--pm2-dir DIR` reuses a directory where `npm install pm2` ran); logrotate for its row
(apt-get install logrotate). Run from the repository root:

  python3 bench/rotation.py [--rate 50000] [--seconds 20] [--max-size 1048576] [--shim PATH]
                            [--only shim,pm2-logrotate,logrotate] [--pm2-dir DIR]
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

WRITER = r"""
import os, sys, time
rate, seconds, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
fd = 1 if path == "-" else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
total = int(rate * seconds)
start = time.monotonic()
i = 0
while i < total:
    # Pace in 1 ms slices; each line is its own write(2).
    due = min(total, int((time.monotonic() - start) * rate) + 1)
    while i < due:
        os.write(fd, b"%d\n" % i)
        i += 1
    time.sleep(0.001)
t = os.times()
with open(os.environ["WRITER_CPU"], "w") as f:
    f.write(f"{t.user + t.system} {total}\n")
"""


def cpu_of(rusage):
    return rusage.ru_utime + rusage.ru_stime


def count_lines(directory, stem, total):
    seen = bytearray(total)
    dup = 0
    extra = 0
    for name in os.listdir(directory):
        if not (name == f"{stem}.log" or name.startswith(f"{stem}__") or name.startswith(f"{stem}.log.")):
            continue
        path = os.path.join(directory, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as f:
            for line in f:
                try:
                    n = int(line)
                except ValueError:
                    extra += 1
                    continue
                if 0 <= n < total:
                    if seen[n]:
                        dup += 1
                    seen[n] = 1
                else:
                    extra += 1
    lost = total - sum(seen)
    return lost, dup, extra


def writer_cpu(path):
    with open(path) as f:
        cpu, total = f.read().split()
    return float(cpu), int(total)


def run_shim(args, d):
    script = os.path.join(d, "writer.py")
    cpu_file = os.path.join(d, "writer.cpu")
    out = os.path.join(d, "out.log")
    cmd = [
        args.shim, "--name", "bench", "--stdout", out,
        "--log-max-size", str(args.max_size), "--log-retain", "all",
        "--", sys.executable, script, str(args.rate), str(args.seconds), "-",
    ]
    env = dict(os.environ, WRITER_CPU=cpu_file)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    app_cpu, total = writer_cpu(cpu_file)
    lost, dup, extra = count_lines(d, "out", total)
    rotations = sum(1 for n in os.listdir(d) if n.startswith("out__"))
    return {
        "who": "rgen-shim rename", "total": total, "lost": lost, "dup": dup,
        "extra": extra, "rotations": rotations,
        "writer_cpu": max(0.0, cpu_of(ru) - app_cpu), "cpu": None, "app_cpu": app_cpu,
        "wall": wall,
    }


def proc_cpu(pid):
    """User+system seconds of a running process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pm2_install(args, scratch):
    """PM2 from the npm registry into `scratch` (or the --pm2-dir given); returns its CLI."""
    prefix = args.pm2_dir or os.path.join(scratch, "pm2")
    cli = os.path.join(prefix, "node_modules", ".bin", "pm2")
    if not os.access(cli, os.X_OK):
        if not shutil.which("npm"):
            return None
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix",
                        prefix, "pm2@latest"], check=True, stdout=subprocess.DEVNULL)
    return cli


def run_pm2_logrotate(args, d):
    if not shutil.which("node"):
        return None
    pm2 = pm2_install(args, d)
    if pm2 is None:
        return None
    script = os.path.join(d, "writer.py")
    cpu_file = os.path.join(d, "writer.cpu")
    out = os.path.join(d, "out.log")
    # Its own daemon, in the scratch directory: nothing of the user's PM2 is touched.
    env = dict(os.environ, PM2_HOME=os.path.join(d, "pm2-home"), NO_COLOR="1")

    def cli(*argv, capture=False):
        return subprocess.run([pm2, *argv], env=env, check=True, text=True,
                              stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def jlist():
        return json.loads(cli("jlist", capture=True).stdout or "[]")

    try:
        cli("install", "pm2-logrotate")
        for key, value in [("max_size", str(args.max_size)), ("retain", "all"),
                           ("compress", "false"), ("workerInterval", "1")]:
            cli("set", f"pm2-logrotate:{key}", value)
        version = next((p["pm2_env"].get("version") for p in jlist() if p["name"] == "pm2-logrotate"), "?")
        with open(os.path.join(env["PM2_HOME"], "pm2.pid")) as f:
            daemon = int(f.read())
        eco = os.path.join(d, "ecosystem.config.js")
        with open(eco, "w") as f:
            f.write("module.exports = " + json.dumps({"apps": [{
                "name": "bench", "script": script, "interpreter": sys.executable,
                "args": [str(args.rate), str(args.seconds), "-"], "out_file": out,
                "error_file": os.path.join(d, "err.log"), "autorestart": False,
                "env": {"WRITER_CPU": cpu_file},
            }]}) + ";\n")
        # The module restarted on every `pm2 set`: measure the one that is running now.
        module = next(p["pid"] for p in jlist() if p["name"] == "pm2-logrotate")
        daemon_cpu, module_cpu = proc_cpu(daemon), proc_cpu(module)
        t0 = time.monotonic()
        cli("start", eco)
        while not os.path.exists(cpu_file):
            time.sleep(0.1)
        # Until the daemon has written everything and the module has had its last look.
        last = -1
        while True:
            time.sleep(2.0)
            size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)
                       if n.startswith("out"))
            if size == last:
                break
            last = size
        wall = time.monotonic() - t0
        daemon_cpu = proc_cpu(daemon) - daemon_cpu
        module_cpu = proc_cpu(module) - module_cpu
    finally:
        subprocess.run([pm2, "kill"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app_cpu, total = writer_cpu(cpu_file)
    lost, dup, extra = count_lines(d, "out", total)
    rotations = sum(1 for n in os.listdir(d) if n.startswith("out__"))
    return {
        "who": f"pm2-logrotate {version} copy + truncate (workerInterval 1 s)", "total": total,
        "lost": lost, "dup": dup, "extra": extra, "rotations": rotations,
        "writer_cpu": daemon_cpu, "cpu": module_cpu, "app_cpu": app_cpu, "wall": wall,
    }


def run_logrotate(args, d):
    logrotate = shutil.which("logrotate")
    if not logrotate:
        return None
    script = os.path.join(d, "writer.py")
    cpu_file = os.path.join(d, "writer.cpu")
    out = os.path.join(d, "out.log")
    conf = os.path.join(d, "logrotate.conf")
    with open(conf, "w") as f:
        f.write(f"{out} {{\n  copytruncate\n  size {args.max_size}\n  rotate 100000\n"
                "  nocompress\n  missingok\n}\n")
    state = os.path.join(d, "logrotate.state")
    env = dict(os.environ, WRITER_CPU=cpu_file)
    t0 = time.monotonic()
    w = subprocess.Popen([sys.executable, script, str(args.rate), str(args.seconds), out], env=env)
    rot_cpu = 0.0
    runs = 0
    while w.poll() is None:
        time.sleep(1.0)
        p = subprocess.Popen([logrotate, "-s", state, conf], stderr=subprocess.DEVNULL)
        _, _, ru = os.wait4(p.pid, 0)
        rot_cpu += cpu_of(ru)
        runs += 1
    wall = time.monotonic() - t0
    app_cpu, total = writer_cpu(cpu_file)
    lost, dup, extra = count_lines(d, "out", total)
    rotations = sum(1 for n in os.listdir(d) if n.startswith("out.log."))
    return {
        "who": f"logrotate copytruncate ({runs} runs)", "total": total, "lost": lost,
        "dup": dup, "extra": extra, "rotations": rotations, "writer_cpu": 0.0, "cpu": rot_cpu,
        "app_cpu": app_cpu, "wall": wall,
    }


RUNNERS = {"shim": run_shim, "pm2-logrotate": run_pm2_logrotate, "logrotate": run_logrotate}
MISSING = {
    "pm2-logrotate": "node/npm not installed; skipping the pm2-logrotate row",
    "logrotate": "logrotate not installed; skipping its row (apt-get install logrotate)",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-size", type=int, default=1 << 20)
    ap.add_argument("--shim", default=os.path.join("target", "release", "rgen-shim"))
    ap.add_argument("--only", default=",".join(RUNNERS))
    ap.add_argument("--pm2-dir", help="a directory where `npm install pm2` ran")
    args = ap.parse_args()
    if not os.access(args.shim, os.X_OK):
        sys.exit(f"{args.shim}: not built (cargo build --release --bin rgen-shim)")
    rows = []
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory(prefix="rgen-rotation-") as d:
            with open(os.path.join(d, "writer.py"), "w") as f:
                f.write(WRITER)
            r = RUNNERS[name](args, d)
        if r is None:
            print(MISSING[name])
            continue
        rows.append(r)
    print(f"{args.rate} lines/s for {args.seconds:g} s, rotate at {args.max_size} bytes")
    print("| rotation | lines | lost | duplicated | rotations | writer CPU (s) | rotation CPU (s) "
          "| CPU per 1M lines (s) | app CPU (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        both = r["writer_cpu"] + (r["cpu"] or 0.0)
        per_m = both / r["total"] * 1e6 if r["total"] else 0.0
        rot = "in the writer's" if r["cpu"] is None else f"{r['cpu']:.2f}"
        print(f"| {r['who']} | {r['total']} | {r['lost']} | {r['dup']} | {r['rotations']} "
              f"| {r['writer_cpu']:.2f} | {rot} | {per_m:.2f} | {r['app_cpu']:.2f} |")


if __name__ == "__main__":
    main()
