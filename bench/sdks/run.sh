#!/usr/bin/env bash
# The SDK streaming benchmark's measurement (bench/sdks.sh starts it through clients/smoke-test.sh, which provides a
# live server and a seeded 1,000 x 50 KB rig mailbox in MAILGRPC_* variables). Registers that mailbox, then for ROUNDS
# rounds streams it once per SDK and once per bare client of the same language's gRPC library (order alternating),
# each in its own process, each message's SHA-256 checked. Writes the table to artifacts/bench-sdks.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../clients/tools.sh"
bench="$REPO_ROOT/bench/sdks"
rounds="${ROUNDS:-3}"
out="$REPO_ROOT/artifacts/bench-sdks"
mkdir -p "$out"
: >"$out/results.txt"

export BENCH_MAILBOX_ID
BENCH_MAILBOX_ID="$(PYTHONPATH="$CLIENTS_DIR/python/src" "$PYTHON" - <<'PY'
import os
from mailgrpc.v1 import authorization_service_pb2 as auth, mailbox_pb2 as mb, mailbox_service_pb2 as mbs
from mailgrpc_client import MailGrpcClient
env = os.environ
with MailGrpcClient(env["MAILGRPC_TARGET"], env["MAILGRPC_API_KEY"]) as client:
    box = client.mailboxes.CreateMailbox(mbs.CreateMailboxRequest(mailbox=mb.Mailbox(
        username=env["MAILGRPC_SMOKE_USER"], provider=mb.PROVIDER_GENERIC,
        server=mb.ServerSettings(host=env["MAILGRPC_SMOKE_POP3_HOST"], port=int(env["MAILGRPC_SMOKE_POP3_PORT"]), security=mb.SECURITY_NONE),
        auth_method=mb.AuthMethod(password=mb.PasswordAuth())))).mailbox
    client.authorization.SetMailboxPassword(auth.SetMailboxPasswordRequest(mailbox_id=box.mailbox_id, password=env["MAILGRPC_SMOKE_PASSWORD"]))
    print(box.mailbox_id)
PY
)"

echo "building the benchmark programs" >&2
dotnet build "$bench/MailGrpc.Bench.Sdks" -c Release -nologo -v q >&2
(go_env && go build -o "$out/go-bench" "$bench/go/main.go") >&2
dotnet_bench="$bench/MailGrpc.Bench.Sdks/bin/Release/net10.0/MailGrpc.Bench.Sdks.dll"

measure() { # measure LANG MODE
  local line
  case "$1" in
    dotnet) line="$(dotnet "$dotnet_bench" "$2" | grep '^RESULT')" ;;
    typescript) line="$(SDK_DIR="$CLIENTS_DIR/typescript" node "$bench/bench.mjs" "$2" | grep '^RESULT')" ;;
    python) line="$(PYTHONPATH="$CLIENTS_DIR/python/src" "$PYTHON" "$bench/bench.py" "$2" | grep '^RESULT')" ;;
    go) line="$("$out/go-bench" "$2" | grep '^RESULT')" ;;
  esac
  echo "$1 $line" | tee -a "$out/results.txt" >&2
}

measure python bare >/dev/null 2>&1 # warms the server, Dovecot and the page cache; not counted
: >"$out/results.txt"
for round in $(seq 1 "$rounds"); do
  for lang in dotnet typescript python go; do
    if ((round % 2)); then measure "$lang" bare; measure "$lang" sdk; else measure "$lang" sdk; measure "$lang" bare; fi
  done
done

"$PYTHON" - "$out/results.txt" "$rounds" <<'PY' | tee "$out/table.md"
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if "RESULT" in line]
runs = {}
for lang, _, mode, messages, size, seconds in rows:
    if int(messages) != 1000:
        sys.exit(f"{lang} {mode} streamed {messages} messages, not 1000")
    runs.setdefault((lang, mode), []).append((float(seconds), int(size)))
median = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
csharp = median[("dotnet", "sdk")]
print(f"1,000 messages, {rows[0][4] and int(rows[0][4]) / 1e6:.1f} MB per stream, median of {sys.argv[2]} rounds (seconds per whole stream, lower is better)")
print()
print("| SDK | SDK s | SDK MB/s | bare client s | SDK / bare (time) | SDK / C# SDK (time) |")
print("| --- | --- | --- | --- | --- | --- |")
for lang, name in (("dotnet", "C#"), ("typescript", "TypeScript"), ("python", "Python"), ("go", "Go")):
    sdk, bare = median[(lang, "sdk")], median[(lang, "bare")]
    size = runs[(lang, "sdk")][0][1]
    print(f"| {name} | {sdk:.2f} | {size / 1e6 / sdk:.1f} | {bare:.2f} | {sdk / bare:.2f} | {sdk / csharp:.2f} |")
PY
echo "SDK benchmark: $(wc -l <"$out/results.txt") streams; table in artifacts/bench-sdks/table.md"
