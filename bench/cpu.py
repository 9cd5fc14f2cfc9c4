#!/usr/bin/env python3
"""CPU seconds (user + system) used so far, for make bench's CPU per checkout.

usage: cpu.py process PID    the process (all its threads)
       cpu.py tree PID       the process, its live children, and the children it has reaped
                             (PostgreSQL: the postmaster, its backends and workers)
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return int(fields[1]), [int(x) for x in fields[11:15]]


mode, root = sys.argv[1], sys.argv[2]
if mode == "process":
    _, (utime, stime, _, _) = stat(root)
    print((utime + stime) / TICK)
else:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            ppid, (utime, stime, cutime, cstime) = stat(pid)
        except (OSError, IndexError):
            continue
        if pid == root:
            total += utime + stime + cutime + cstime
        elif str(ppid) == root:
            total += utime + stime
    print(total / TICK)
