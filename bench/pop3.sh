#!/usr/bin/env bash
# POP3 retrieval benchmark: MailKit loop vs raw pipelined reader vs MailGrpc StreamMessages, and server RSS under
# 20 concurrent 20 MB streams. Needs the rig (tests/rig/up.sh, started here) and root (it seeds Maildirs and chowns them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/tests/rig/up.sh" ]]; then bash "$root/tests/rig/up.sh" >/dev/null; fi
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Pop3" -c Release -v q -nologo >/dev/null
dotnet "$root/bench/MailGrpc.Bench.Pop3/bin/Release/net10.0/MailGrpc.Bench.Pop3.dll" \
  "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" "${ROUNDS:-5}"
