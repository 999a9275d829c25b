#!/usr/bin/env bash
# Registry benchmark: GetMailbox and CreateMailbox over gRPC against Redis on loopback, 16 concurrent callers.
# Starts the rig's Redis (tests/rig/up.sh), a Release server process on a free port, runs the load, stops the server by PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
callers="${CALLERS:-16}"
seconds="${SECONDS_PER_CALL:-10}"

bash "$root/tests/rig/up.sh" >/dev/null
redis="${MAILGRPC_TEST_REDIS:-127.0.0.1:16379}"
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Registry" -c Release -v q -nologo >/dev/null

key="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
metrics="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
web="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

MailGrpc__Redis__Configuration="$redis" \
MailGrpc__ApiKeys__0__Tenant="bench-$(date +%s)" MailGrpc__ApiKeys__0__KeyHash="$hash" \
MailGrpc__Encryption__Keys__k1="$(head -c 32 /dev/urandom | base64)" MailGrpc__Encryption__ActiveKeyId=k1 \
Kestrel__Endpoints__Grpc__Url="http://127.0.0.1:$port" Kestrel__Endpoints__Web__Url="http://127.0.0.1:$web" \
Kestrel__Endpoints__Metrics__Url="http://127.0.0.1:$metrics" \
Logging__LogLevel__Default=Warning \
  dotnet "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" >/tmp/mailgrpc-bench-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

dotnet "$root/bench/MailGrpc.Bench.Registry/bin/Release/net10.0/MailGrpc.Bench.Registry.dll" "http://127.0.0.1:$port" "$key" "$callers" "$seconds"
