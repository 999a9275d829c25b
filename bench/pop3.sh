#!/usr/bin/env bash
# POP3 retrieval benchmark: MailKit loop vs raw pipelined reader vs MailGrpc StreamMessages, and server RSS under
# 20 concurrent 20 MB streams — for the native AOT server that ships (deploy/Dockerfile) and the JIT build side by side
# in one run. Needs the rig (tests/rig/up.sh, started here), root (it seeds Maildirs and chowns them) and, for native
# AOT, clang and zlib1g-dev. ROUNDS (default 5) throughput rounds; MEMORY_ROUNDS (default 3) memory runs per server.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/tests/rig/up.sh" ]]; then bash "$root/tests/rig/up.sh" >/dev/null; fi
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet publish "$root/src/MailGrpc.Server" -c Release -r linux-x64 -v q -nologo -o "$root/artifacts/bench-aot" >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Pop3" -c Release -v q -nologo >/dev/null
dotnet "$root/bench/MailGrpc.Bench.Pop3/bin/Release/net10.0/MailGrpc.Bench.Pop3.dll" "${ROUNDS:-5}" \
  "aot=$root/artifacts/bench-aot/MailGrpc.Server" \
  "jit=$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll"
