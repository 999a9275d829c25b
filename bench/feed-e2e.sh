#!/usr/bin/env bash
# End-to-end feed benchmark (issue #13): "new message to event at a subscriber and at a webhook: p50 / p99, target
# <= interval + 1 s", in one run. One Release server with the sync engine on (interval INTERVAL), the rig's Redis, the
# bench Dovecot (bench/sync-dovecot.sh: the rig's users and Maildirs, tuned for many short sessions), MAILBOXES bench
# users (bench/sync-users.sh, one message each), a webhook endpoint at a Kestrel receiver on 127.0.0.1 and a
# SubscribeEvents subscriber (both in bench/MailGrpc.Bench.Feed). MESSAGES messages are delivered into random mailboxes
# at random moments over DURATION seconds, written into the Maildir as an MTA does (tmp/ then renamed into new/); each
# one's time from that append to its message.arrived event at the subscriber and at the webhook receiver: p50/p99/max.
# Usage: bench/feed-e2e.sh   MAILBOXES=500 MESSAGES=300 DURATION=120 INTERVAL=10 (seconds; the engine's MinInterval is 10)
# Needs root (it writes the rig's users and Maildirs). Everything on 127.0.0.1; stops what it started by PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mailboxes="${MAILBOXES:-500}"
messages="${MESSAGES:-300}"
duration="${DURATION:-120}"
interval="${INTERVAL:-10}"

bash "$root/tests/rig/up.sh" >/dev/null
# shellcheck source=../tests/rig/lib.sh
source "$root/tests/rig/lib.sh"
redis="${MAILGRPC_TEST_REDIS:-127.0.0.1:16379}"
pop3s_port="$(bash "$root/bench/sync-dovecot.sh" start)"
IFS=: read -r _ _ mail_uid mail_gid _ <<<"$(getent passwd "$MAIL_USER")"
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Feed" -c Release -v q -nologo >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
prefix="fe$run"
password="pw-$run-bench"
server=
cleanup() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
  for ((s = 0; s < 16; s++)); do redis-cli -h 127.0.0.1 -p "${redis##*:}" DEL "mailgrpc:{bench-$run:$s}:due" >/dev/null || true; done
  bash "$root/bench/sync-users.sh" --remove "$prefix" >/dev/null
  bash "$root/bench/sync-dovecot.sh" stop
}
trap cleanup EXIT
bash "$root/bench/sync-users.sh" "$prefix" "$mailboxes" "$password" 1 >/dev/null

key="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
port="$(free_port)"; metrics="$(free_port)"; web="$(free_port)"; receiver="$(free_port)"
MailGrpc__Redis__Configuration="$redis" \
MailGrpc__ApiKeys__0__Tenant="bench-$run" MailGrpc__ApiKeys__0__KeyHash="$hash" \
MailGrpc__Encryption__Keys__k1="$(head -c 32 /dev/urandom | base64)" MailGrpc__Encryption__ActiveKeyId=k1 \
MailGrpc__Network__AllowedHosts__0=127.0.0.1 MailGrpc__Tls__ExtraTrustedCaFile="$RUN/tls/ca.crt" \
MailGrpc__Sync__Enabled=true MailGrpc__Sync__Schedule="bench-$run" MailGrpc__Sync__DefaultInterval="00:00:$(printf '%02d' "$interval")" \
MailGrpc__Webhooks__AllowInsecureLoopback=true \
Kestrel__Endpoints__Grpc__Url="http://127.0.0.1:$port" Kestrel__Endpoints__Web__Url="http://127.0.0.1:$web" \
Kestrel__Endpoints__Metrics__Url="http://127.0.0.1:$metrics" \
Logging__LogLevel__Default=Warning \
  dotnet "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" >"/tmp/mailgrpc-bench-feed-e2e.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

echo "server: Release, sync interval ${interval} s, events PollInterval 100 ms (default); Dovecot: bench instance (pop3s $pop3s_port); $(nproc) cores shared with Redis, Dovecot and the driver"
dotnet "$root/bench/MailGrpc.Bench.Feed/bin/Release/net10.0/MailGrpc.Bench.Feed.dll" \
  "http://127.0.0.1:$port" "$key" "http://127.0.0.1:$metrics/metrics" "$prefix" "$mailboxes" "$password" "$pop3s_port" \
  "$MAIL_ROOT" "$mail_uid" "$mail_gid" "$messages" "$duration" "$interval" "$receiver"
