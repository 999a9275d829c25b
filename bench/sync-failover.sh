#!/usr/bin/env bash
# Sync failover benchmark (issue #13): THREE server replicas (Release) share N mailboxes; one is SIGKILLed mid-run (no
# graceful stop, so its claimed mailboxes are only freed by their claims running out). Mail is delivered to some
# mailboxes around the kill. Reports, from outside the server:
#   - re-poll bound: for every mailbox, the time from the kill to its first POP3 login after it (Dovecot's login log,
#     1 s resolution); target: within two intervals;
#   - events lost: delivered messages with no message.arrived event in the tenant's stream (target 0);
#   - duplicates: message.arrived events beyond the first per (mailbox, uid) (at least once: counted, not a failure).
# Usage: bench/sync-failover.sh   N=300 mailboxes, INTERVAL=15 s, CLAIM=10 s (ClaimTimeout: the takeover bound),
#        DELIVER=60 messages (half in the interval before the kill, half in the interval after), DOVECOT=bench|rig.
# Needs root (rig users and Maildirs) and starts the rig (tests/rig/up.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${N:-300}"
interval="${INTERVAL:-15}"
claim="${CLAIM:-10}"
deliver="${DELIVER:-60}"
dovecot="${DOVECOT:-bench}"

bash "$root/tests/rig/up.sh" >/dev/null
# shellcheck source=../tests/rig/lib.sh
source "$root/tests/rig/lib.sh"
redis="${MAILGRPC_TEST_REDIS:-127.0.0.1:16379}"
redis_pid="$(cat "$RUN/redis/redis.pid")"
if [[ $dovecot == bench ]]; then
  pop3s_port="$(bash "$root/bench/sync-dovecot.sh" start)"
  dovecot_pid="$(cat "$RUN/dovecot/bench/base/master.pid")"
  dovecot_log="$LOG_DIR/dovecot-bench.log"
else
  pop3s_port=$POP3S_PORT
  dovecot_pid="$(cat "$DOVECOT_MAIN_PID")"
  dovecot_log="$LOG_DIR/dovecot.log"
fi
dotnet build "$root/src/MailGrpc.Server" -c Release -v q -nologo >/dev/null
dotnet build "$root/bench/MailGrpc.Bench.Sync" -c Release -v q -nologo >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
entry=$(getent passwd "$MAIL_USER")
IFS=: read -r _ _ mail_uid mail_gid _ <<<"$entry"

run="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
prefix="fo$run"
password="pw-$run-bench"
tenant="bench-$run"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$root/bench/sync-users.sh" --remove "$prefix" >/dev/null
  for ((s = 0; s < 16; s++)); do redis-cli -h 127.0.0.1 -p "${redis##*:}" DEL "mailgrpc:{$tenant:$s}:due" >/dev/null; done
  redis-cli -h 127.0.0.1 -p "${redis##*:}" DEL "mailgrpc:{evt:$tenant}:events" >/dev/null
  if [[ $dovecot == bench ]]; then bash "$root/bench/sync-dovecot.sh" stop; fi
}
trap cleanup EXIT

bash "$root/bench/sync-users.sh" "$prefix" "$n" "$password" 1 >/dev/null
key="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
encryption="$(head -c 32 /dev/urandom | base64)"
ports=() metrics=()
for r in 0 1 2; do
  port="$(free_port)" metric="$(free_port)" web="$(free_port)"
  ports+=("$port") metrics+=("$metric")
  MailGrpc__Redis__Configuration="$redis" \
  MailGrpc__ApiKeys__0__Tenant="$tenant" MailGrpc__ApiKeys__0__KeyHash="$hash" \
  MailGrpc__Encryption__Keys__k1="$encryption" MailGrpc__Encryption__ActiveKeyId=k1 \
  MailGrpc__Network__AllowedHosts__0=127.0.0.1 MailGrpc__Tls__ExtraTrustedCaFile="$RUN/tls/ca.crt" \
  MailGrpc__Sync__Enabled=true MailGrpc__Sync__Schedule="$tenant" MailGrpc__Sync__DefaultInterval="00:00:$interval" \
  MailGrpc__Sync__MinInterval=00:00:05 MailGrpc__Sync__ClaimTimeout="00:00:$claim" \
  Kestrel__Endpoints__Grpc__Url="http://127.0.0.1:$port" Kestrel__Endpoints__Web__Url="http://127.0.0.1:$web" \
  Kestrel__Endpoints__Metrics__Url="http://127.0.0.1:$metric" \
  Logging__LogLevel__Default=Warning \
    dotnet "$root/src/MailGrpc.Server/bin/Release/net10.0/MailGrpc.Server.dll" >"/tmp/mailgrpc-bench-failover-$r.log" 2>&1 &
  servers+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
echo "3 replicas (pids ${servers[*]}), $n mailboxes, interval $interval s, claim timeout $claim s, Dovecot: $dovecot"

# Register through replica 0 and let two intervals pass (every mailbox has had its first, quiet poll), then report
# replica 0's share over one interval.
dotnet "$root/bench/MailGrpc.Bench.Sync/bin/Release/net10.0/MailGrpc.Bench.Sync.dll" \
  "http://127.0.0.1:${ports[0]}" "$key" "http://127.0.0.1:${metrics[0]}/metrics" "$redis" "$prefix" "$n" "$password" "$pop3s_port" \
  "$((2 * interval))" "$interval" "${servers[0]}" "$redis_pid" "$dovecot_pid" | sed 's/^/  replica 0 before the kill: /'

deliver_one() { # deliver_one K: a new message with Message-ID <PREFIX-dK@bench.test> into mailbox K mod N
  local k=$1 user="$prefix-$(($1 * 7919 % n))@bench.test"
  local dir=$MAIL_ROOT/$user/Maildir file="$(date +%s).D$k.failover"
  printf 'Message-ID: <%s-d%s@bench.test>\r\nSubject: Failover %s\r\nFrom: Bench <bench@bench.test>\r\nTo: %s\r\nDate: Mon, 07 Dec 2026 04:00:00 +0000\r\n\r\nHello.\r\n' \
    "$prefix" "$k" "$k" "$user" >"$dir/tmp/$file"
  chown "$mail_uid:$mail_gid" "$dir/tmp/$file"
  mv "$dir/tmp/$file" "$dir/new/$file"
}
half=$((deliver / 2))
pause=$(python3 -c "print($interval / max(1, $half))")
for ((k = 0; k < half; k++)); do deliver_one "$k"; sleep "$pause"; done
victim=${servers[1]}
killed_at=$(date +%s)
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
echo "SIGKILLed replica 1 (pid $victim) at $(date -u -d "@$killed_at" +%T) UTC"
for ((k = half; k < deliver; k++)); do deliver_one "$k"; sleep "$pause"; done
# Long enough for the takeover (claim timeout) plus two intervals for everything delivered to be polled.
sleep $((claim + 2 * interval))

redis-cli -h 127.0.0.1 -p "${redis##*:}" --json XRANGE "mailgrpc:{evt:$tenant}:events" - + >"/tmp/mailgrpc-bench-failover-events.json"
python3 - "$dovecot_log" "$prefix" "$n" "$killed_at" "$interval" "$deliver" /tmp/mailgrpc-bench-failover-events.json <<'PY'
import collections, datetime, json, re, sys
log, prefix, n, killed, interval, deliver, events = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
logins = collections.defaultdict(list)
pattern = re.compile(r"^(\S+ \S+) pop3-login: Info: Login: user=<" + re.escape(prefix) + r"-(\d+)@bench\.test>")
for line in open(log, errors="replace"):
    m = pattern.match(line)
    if m:
        at = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
        logins[int(m.group(2))].append(at)
# Dovecot logs local time; the rig runs in UTC (checked: a login line within the run must exist).
after = []
for i in range(n):
    later = [t for t in logins.get(i, []) if t >= killed]
    after.append(min(later) - killed if later else None)
missing = sum(1 for a in after if a is None)
seen = sorted(a for a in after if a is not None)
print(f"re-poll after the kill: {len(seen)}/{n} mailboxes logged in again; max {seen[-1] if seen else 'n/a'} s, "
      f"p99 {seen[int(0.99 * (len(seen) - 1))] if seen else 'n/a'} s (target <= {2 * interval} s); "
      f"over 2 intervals: {sum(1 for a in seen if a > 2 * interval) + missing}")
entries = json.load(open(events))
arrived = collections.Counter()
delivered_seen = collections.Counter()
for entry in entries:
    fields = entry[1]
    kv = dict(zip(fields[0::2], fields[1::2]))
    if kv.get("type") != "message.arrived":
        continue
    data = json.loads(kv["data"])
    arrived[(data["mailbox_id"], data["uid"])] += 1
    m = re.search(re.escape(prefix) + r"-d(\d+)@", data.get("envelope", {}).get("message_id") or "")
    if m:
        delivered_seen[int(m.group(1))] += 1
lost = [k for k in range(deliver) if delivered_seen[k] == 0]
duplicates = sum(c - 1 for c in arrived.values())
print(f"events: {deliver} delivered, {deliver - len(lost)} with a message.arrived event, lost {len(lost)}{' ' + str(lost[:10]) if lost else ''}; "
      f"message.arrived events {sum(arrived.values())}, duplicates {duplicates}")
PY
