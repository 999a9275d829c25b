#!/usr/bin/env bash
# POP3 retrieval benchmark: MailKit loop vs raw pipelined reader vs MailGrpc StreamMessages, and server RSS under
# 20 concurrent 20 MB streams — for the native AOT server that ships (deploy/Dockerfile) and the JIT build side by side
# in one run. Needs the rig (tests/rig/up.sh, started here), root (it seeds Maildirs and chowns them) and, for native
# AOT, clang and zlib1g-dev. ROUNDS (default 5) throughput rounds; MEMORY_ROUNDS (default 3) memory runs per server.
# BASELINE_SERVER=<MailGrpc.Server.dll or native executable of another build> (e.g. main, built separately) adds that
# build to the same run as "baseline", so a change is measured side by side with what it replaces. JIT_ONLY=1 skips the
# native AOT publish and measures the JIT build (and the baseline) only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/tests/rig/up.sh" ]]; then bash "$root/tests/rig/up.sh" >/dev/null; fi
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
servers=()
if [[ "${JIT_ONLY:-0}" != 1 ]]; then
  dotnet publish "$root/src/MailGrpc.Server" -c Release -r linux-x64 -v q -nologo -o "$root/artifacts/bench-aot" >/dev/null
  servers+=("aot=$root/artifacts/bench-aot/MailGrpc.Server")
fi
servers+=("jit=$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll")
if [[ -n "${BASELINE_SERVER:-}" ]]; then
  [[ -f "$BASELINE_SERVER" ]] || { echo "BASELINE_SERVER not found: $BASELINE_SERVER" >&2; exit 2; }
  servers+=("baseline=$BASELINE_SERVER")
fi
dotnet build "$root/bench/MailGrpc.Bench.Pop3" -c Release -v q -nologo >/dev/null
dotnet "$root/bench/MailGrpc.Bench.Pop3/bin/Release/net10.0/MailGrpc.Bench.Pop3.dll" "${ROUNDS:-5}" "${servers[@]}"
