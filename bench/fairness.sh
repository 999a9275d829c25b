#!/usr/bin/env bash
# Fairness benchmark (issue #11, "fair memory"): another mailbox's StreamMessages time alone and with 7 slow consumers
# of 20 MB messages on the same server (default 256 MiB byte budget). Target: at least half the unloaded rate.
# Usage: bench/fairness.sh [<name>=<server dll or executable> ...]   (default: this checkout's Release JIT build)
# Needs the rig (tests/rig/up.sh, started here) and root (it seeds Maildirs). ROUNDS (default 2) runs per server.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/tests/rig/up.sh" ]]; then bash "$root/tests/rig/up.sh" >/dev/null; fi
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Pop3" -c Release -v q -nologo >/dev/null
servers=("$@")
((${#servers[@]} > 0)) || servers=("this=$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll")
BENCH_FAIRNESS=1 dotnet "$root/bench/MailGrpc.Bench.Pop3/bin/Release/net10.0/MailGrpc.Bench.Pop3.dll" "${ROUNDS:-2}" "${servers[@]}"
