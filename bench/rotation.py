#!/usr/bin/env python3
"""Log rotation under load: rgen-shim's rename rotation vs logrotate's copytruncate.

An app writes numbered lines at a fixed rate (default 50,000 lines/s, one write(2) per line, as
console.log does) for a while; the log is rotated by size meanwhile. Afterwards every file is
read back and each number counted: lost = never seen, duplicated = seen more than once.

  rgen-shim  the app writes into the shim's pipe; the shim writes the file and rotates it
             (--log-max-size, checked on every write).
  logrotate  the app appends to the file itself (O_APPEND, as systemd's `append:` does);
             `logrotate` with `copytruncate` and `size` runs once a second, as a cron job
             would run it far less often.

CPU is user+system time: the shim's own (from wait4, minus the app's self-reported time), and
the sum of every logrotate run. Needs python3, rgen-shim (built), and logrotate for the second
row (apt-get install logrotate); run from the repository root:

  python3 bench/rotation.py [--rate 50000] [--seconds 20] [--max-size 1048576] [--shim PATH]
"""

import argparse
import gzip
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
        "who": "rgen-shim (rename)", "total": total, "lost": lost, "dup": dup,
        "extra": extra, "rotations": rotations,
        "cpu": max(0.0, cpu_of(ru) - app_cpu), "app_cpu": app_cpu, "wall": wall,
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
        "dup": dup, "extra": extra, "rotations": rotations, "cpu": rot_cpu,
        "app_cpu": app_cpu, "wall": wall,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-size", type=int, default=1 << 20)
    ap.add_argument("--shim", default=os.path.join("target", "release", "rgen-shim"))
    args = ap.parse_args()
    if not os.access(args.shim, os.X_OK):
        sys.exit(f"{args.shim}: not built (cargo build --release --bin rgen-shim)")
    rows = []
    for runner in (run_shim, run_logrotate):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "writer.py"), "w") as f:
                f.write(WRITER)
            r = runner(args, d)
        if r is None:
            print("logrotate not installed; skipping its row (apt-get install logrotate)")
            continue
        rows.append(r)
    print(f"{args.rate} lines/s for {args.seconds:g} s, rotate at {args.max_size} bytes")
    print("| rotation | lines | lost | duplicated | rotations | rotation CPU (s) | CPU per 1M lines (s) | app CPU (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        per_m = r["cpu"] / r["total"] * 1e6 if r["total"] else 0.0
        print(f"| {r['who']} | {r['total']} | {r['lost']} | {r['dup']} | {r['rotations']} "
              f"| {r['cpu']:.2f} | {per_m:.2f} | {r['app_cpu']:.2f} |")


if __name__ == "__main__":
    main()
