#!/usr/bin/env bash
# Sync engine benchmark (issue #13): N mailboxes synced by ONE server replica with a 60 s interval, against the rig's
# Dovecot (implicit TLS, password logins) and Redis on the same machine. Reports poll lag p50/p99 (the server's
# mailgrpc.sync.poll.lag histogram: the bucket bound), polls/s, CPU (server, Redis, whole machine) and Redis commands per
# poll (INFO commandstats delta) over a measurement window after a warm-up. Target: lag p99 within the interval at
# >= 5,000 mailboxes.
# Usage: bench/sync.sh            SIZES="500 2000 5000" (default), WARMUP=75, WINDOW=120 seconds, SLOTS=64 poll slots,
#        DOVECOT=bench (default: bench/sync-dovecot.sh's instance, tuned for many short sessions) or rig (the tests' one)
# Needs root (it writes the rig's users and Maildirs: bench/sync-users.sh) and starts the rig (tests/rig/up.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sizes="${SIZES:-500 2000 5000}"
warmup="${WARMUP:-75}"
window="${WINDOW:-120}"
slots="${SLOTS:-64}"
dovecot="${DOVECOT:-bench}"

bash "$root/tests/rig/up.sh" >/dev/null
# shellcheck source=../tests/rig/lib.sh
source "$root/tests/rig/lib.sh"
redis="${MAILGRPC_TEST_REDIS:-127.0.0.1:16379}"
redis_pid="$(cat "$RUN/redis/redis.pid")"
if [[ $dovecot == bench ]]; then
  pop3s_port="$(bash "$root/bench/sync-dovecot.sh" start)"
  dovecot_pid="$(cat "$RUN/dovecot/bench/base/master.pid")"
else
  pop3s_port=$POP3S_PORT
  dovecot_pid="$(cat "$DOVECOT_MAIN_PID")"
fi
echo "Dovecot: $dovecot (pop3s port $pop3s_port)"
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Sync" -c Release -v q -nologo >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

server=
prefix=
cleanup() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
  if [[ -n $prefix ]]; then bash "$root/bench/sync-users.sh" --remove "$prefix" >/dev/null; fi
  if [[ $dovecot == bench ]]; then bash "$root/bench/sync-dovecot.sh" stop; fi
}
trap cleanup EXIT

for n in $sizes; do
  run="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  prefix="sb$run"
  password="pw-$run-bench"
  echo "== $n mailboxes =="
  started=$(date +%s)
  bash "$root/bench/sync-users.sh" "$prefix" "$n" "$password" 2
  echo "users and Maildirs in $(($(date +%s) - started)) s"

  key="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
  port="$(free_port)"
  metrics="$(free_port)"
  web="$(free_port)"
  MailGrpc__Redis__Configuration="$redis" \
  MailGrpc__ApiKeys__0__Tenant="bench-$run" MailGrpc__ApiKeys__0__KeyHash="$hash" \
  MailGrpc__Encryption__Keys__k1="$(head -c 32 /dev/urandom | base64)" MailGrpc__Encryption__ActiveKeyId=k1 \
  MailGrpc__Network__AllowedHosts__0=127.0.0.1 MailGrpc__Tls__ExtraTrustedCaFile="$RUN/tls/ca.crt" \
  MailGrpc__Sync__Enabled=true MailGrpc__Sync__Schedule="bench-$run" MailGrpc__Sync__DefaultInterval=00:01:00 \
  MailGrpc__Sync__MaxConcurrentPolls="$slots" \
  Kestrel__Endpoints__Grpc__Url="http://127.0.0.1:$port" Kestrel__Endpoints__Web__Url="http://127.0.0.1:$web" \
  Kestrel__Endpoints__Metrics__Url="http://127.0.0.1:$metrics" \
  Logging__LogLevel__Default=Warning \
    dotnet "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" >"/tmp/mailgrpc-bench-sync-$n.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

  dotnet "$root/bench/MailGrpc.Bench.Sync/bin/Release/net10.0/MailGrpc.Bench.Sync.dll" \
    "http://127.0.0.1:$port" "$key" "http://127.0.0.1:$metrics/metrics" "$redis" "$prefix" "$n" "$password" "$pop3s_port" \
    "$warmup" "$window" "$server" "$redis_pid" "$dovecot_pid"

  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  for ((s = 0; s < 16; s++)); do redis-cli -h 127.0.0.1 -p "${redis##*:}" DEL "mailgrpc:{bench-$run:$s}:due" >/dev/null; done
  bash "$root/bench/sync-users.sh" --remove "$prefix" >/dev/null
  prefix=
done
