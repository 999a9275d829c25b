#!/usr/bin/env python3
"""Splits a sync poll's POP3 cost at the POP3 server (bench/sync.sh's evidence for where a poll's time goes).

sync-pop3-probe.py PORT PREFIX USERS PASSWORD CONCURRENCY SECONDS [DOVECOT_MASTER_PID]

CONCURRENCY clients loop over the users PREFIX-0@bench.test ... for SECONDS, each doing what one sync poll does on the
wire: TCP connect, TLS handshake (implicit TLS), greeting, USER/PASS, UIDL, TOP 1 0, QUIT. Prints sessions/s, the p50/p99
of each phase, and (with the Dovecot master's pid) the CPU its processes used per session, by process name.
"""
import asyncio
import os
import ssl
import statistics
import sys
import time

port, prefix, users, password = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
concurrency, seconds = int(sys.argv[5]), float(sys.argv[6])
master = int(sys.argv[7]) if len(sys.argv) > 7 else None
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
phases = {k: [] for k in ("connect", "tls", "greeting", "login", "uidl", "top", "quit", "total")}
failures = 0


async def line(reader):
    data = await reader.readline()
    if not data.startswith(b"+OK"):
        raise RuntimeError(data[:80])


async def multiline(reader):
    await line(reader)
    while (await reader.readline()) != b".\r\n":
        pass


async def session(user):
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t1 = time.perf_counter()
    await writer.start_tls(context)
    t2 = time.perf_counter()
    await line(reader)
    t3 = time.perf_counter()
    writer.write(f"USER {user}\r\n".encode())
    await line(reader)
    writer.write(f"PASS {password}\r\n".encode())
    await line(reader)
    t4 = time.perf_counter()
    writer.write(b"UIDL\r\n")
    await multiline(reader)
    t5 = time.perf_counter()
    writer.write(b"TOP 1 0\r\n")
    await multiline(reader)
    t6 = time.perf_counter()
    writer.write(b"QUIT\r\n")
    await line(reader)
    writer.close()
    t7 = time.perf_counter()
    for k, a, b in (("connect", t0, t1), ("tls", t1, t2), ("greeting", t2, t3), ("login", t3, t4), ("uidl", t4, t5),
                    ("top", t5, t6), ("quit", t6, t7), ("total", t0, t7)):
        phases[k].append(b - a)


async def worker(w, stop):
    global failures
    i = w
    while time.perf_counter() < stop:
        try:
            await session(f"{prefix}-{i % users}@bench.test")
        except Exception:  # counted, not fatal: the figure is the rate and the split
            failures += 1
        i += concurrency


def tree_cpu(root):
    """CPU ticks (utime+stime, incl. reaped children) per process name of root's process tree."""
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append((int(pid), name, sum(int(f) for f in fields[11:15])))
    stat = open(f"/proc/{root}/stat").read()
    # The master's reaped children (the per-session pop3 processes) show in its cutime/cstime.
    totals, todo = {"master+reaped": sum(int(f) for f in stat[stat.rindex(")") + 2:].split()[11:15])}, [root]
    while todo:
        for pid, name, ticks in children.get(todo.pop(), []):
            totals[name] = totals.get(name, 0) + ticks
            todo.append(pid)
    return totals


async def main():
    before = tree_cpu(master) if master else {}
    start = time.perf_counter()
    await asyncio.gather(*(worker(w, start + seconds) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    after = tree_cpu(master) if master else {}
    n = len(phases["total"])
    print(f"{n} sessions in {elapsed:.1f} s = {n / elapsed:.1f}/s at concurrency {concurrency}; {failures} failed")
    for k, v in phases.items():
        if v:
            q = statistics.quantiles(v, n=100)
            print(f"  {k:9s} p50 {statistics.median(v) * 1000:8.1f} ms   p99 {q[98] * 1000:8.1f} ms   mean {statistics.fmean(v) * 1000:8.1f} ms")
    if master and n:
        # Dovecot's own CPU (ticks of 10 ms): pop3 processes exit per session, so their time shows in the master's
        # reaped-children counters (cutime/cstime), which tree_cpu includes.
        for name in sorted(set(before) | set(after)):
            d = after.get(name, 0) - before.get(name, 0)
            if d:
                print(f"  dovecot {name:14s} {d * 10 / n:6.2f} ms CPU per session ({d / 100 / elapsed:.2f} cores)")


asyncio.run(main())
