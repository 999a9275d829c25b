#!/usr/bin/env bash
# SDK streaming benchmark: each SDK (C#, TypeScript, Python, Go) and a bare client of that language's gRPC library
# stream the same 1,000 x 50 KB rig mailbox through a live Release server, side by side, ROUNDS (default 3) rounds.
# Uses clients/smoke-test.sh for the rig, the server and the seeded mailbox (root: it seeds Maildirs). Prints the table
# for docs/benchmarks.md (also in artifacts/bench-sdks/table.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
(cd "$root/clients/typescript" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npx --no-install tsc -p tsconfig.json)
CONFIGURATION=Release SMOKE_ONLY=bench bash "$root/clients/smoke-test.sh"
cat "$root/artifacts/bench-sdks/table.md"
