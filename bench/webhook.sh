#!/usr/bin/env bash
# Event feed and webhook benchmark (#13): a Release server process on the rig's Redis, a webhook endpoint registered
# through the API pointing at a Kestrel receiver on 127.0.0.1, and a SubscribeEvents stream. Events are appended to the
# tenant stream exactly as the sync engine does (XADD with the event log's fields), so the figures are the delivery
# part of "new message → event at a webhook / at a subscriber" (the sync engine's poll interval comes on top).
#   EVENTS (300) at RATE/s (50) over MAILBOXES (20): append → webhook accepted, append → subscriber; p50/p99/max.
#   OUTAGE seconds (300): the receiver is down (connection refused) while events keep coming; then back on its port:
#     all delivered, lost, duplicates, per-mailbox order. MAX_BACKOFF (00:01:00) caps the retry delay, so recovery
#     takes at most about that long after the receiver is back; DRAIN_LIMIT (300) bounds the wait for it.
# Starts the rig's Redis (tests/rig/up.sh); stops the server it started by PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
events="${EVENTS:-300}"
rate="${RATE:-50}"
mailboxes="${MAILBOXES:-20}"
outage="${OUTAGE:-300}"
max_backoff="${MAX_BACKOFF:-00:01:00}"
drain_limit="${DRAIN_LIMIT:-300}"

bash "$root/tests/rig/up.sh" >/dev/null
redis="${MAILGRPC_TEST_REDIS:-127.0.0.1:16379}"
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Webhooks" -c Release -v q -nologo >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
key="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
tenant="bench-$(date +%s)"
port="$(free_port)"; metrics="$(free_port)"; web="$(free_port)"; receiver="$(free_port)"

MailGrpc__Redis__Configuration="$redis" \
MailGrpc__ApiKeys__0__Tenant="$tenant" MailGrpc__ApiKeys__0__KeyHash="$hash" \
MailGrpc__Encryption__Keys__k1="$(head -c 32 /dev/urandom | base64)" MailGrpc__Encryption__ActiveKeyId=k1 \
MailGrpc__Webhooks__AllowInsecureLoopback=true MailGrpc__Webhooks__MaxBackoff="$max_backoff" \
Kestrel__Endpoints__Grpc__Url="http://127.0.0.1:$port" Kestrel__Endpoints__Web__Url="http://127.0.0.1:$web" \
Kestrel__Endpoints__Metrics__Url="http://127.0.0.1:$metrics" \
Logging__LogLevel__Default=Warning \
  dotnet "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" >/tmp/mailgrpc-bench-webhook-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

echo "server: Release, PollInterval 100 ms (default), MaxBackoff $max_backoff; $(nproc) cores shared with Redis"
dotnet "$root/bench/MailGrpc.Bench.Webhooks/bin/Release/net10.0/MailGrpc.Bench.Webhooks.dll" \
  "http://127.0.0.1:$port" "$key" "$tenant" "$redis" "$receiver" "$events" "$rate" "$mailboxes" "$outage" "$drain_limit"
echo "webhook metrics:"
curl -s "http://127.0.0.1:$metrics/metrics" | grep -E '^mailgrpc_webhooks_(delivered|failed|dead_lettered)[^ ]* ' | sed 's/^/  /' || true
