#!/usr/bin/env bash
# Fault figures: Redis Cluster failover window by status (master SIGKILL during a create/delete loop), readiness during
# it, reconciler repairs after it, how a drained stream ends (directly and through nginx), and takeover time after a
# replica holding a POP3 lease is SIGKILLed mid-stream. Runs the fault tests that
# measure them (tests/MailGrpc.Tests/Faults) and prints their FIGURE lines. They start what they need through the rig:
# tests/rig/up.sh (Redis, Dovecot, OAuth), tests/rig/cluster.sh (6-node Redis Cluster), tests/rig/nginx.sh (nginx), and
# stop it by pid. Figures go to docs/benchmarks.md ("Faults").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tests/rig/up.sh" >/dev/null
dotnet build "$root/tests/MailGrpc.Tests" -c Debug -v q -nologo >/dev/null
dotnet test "$root/tests/MailGrpc.Tests" --no-build -c Debug --nologo \
  --filter "FullyQualifiedName~Faults.ClusterFailoverTests|FullyQualifiedName~Faults.DrainTests|FullyQualifiedName~Faults.TakeoverTests" \
  --logger "console;verbosity=detailed" 2>&1 | grep -E 'FIGURE|killed master|Passed!|Failed!' | sed -E 's/^\s*(\[xUnit[^]]*\]\s*)?//' | sort -u
