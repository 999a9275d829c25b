#!/usr/bin/env bash
# One SDK README's webhook receiver, run on the installed package: clients/consumer-test.sh calls this in the consumer
# project it installed (current directory and environment), after the README's program. Saves the README's receiver
# block (BLOCK) as FILE, starts it with the README's webhook-run.sh block on a free loopback port, and sends it
# deliveries signed and sent with docs/webhooks.md's own openssl and curl blocks. Checks: the openssl block prints the
# specification's published signature; a valid delivery is answered 204 and printed "verified <id> message.arrived";
# the same delivery again 204 "duplicate <id>"; one signed with another secret 400 "rejected INVALID_SIGNATURE"; one
# signed 10 minutes ago 400 "rejected TIMESTAMP_TOO_OLD" (the C# enum prints as InvalidSignature etc.).
# Stops the receiver by its process group.
#
# Usage (from consumer-test.sh): webhook-receiver-test.sh README BLOCK FILE WORKDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
readme="$1" block_name="$2" file="$3" work="$4"
doc="$REPO_ROOT/docs/webhooks.md"
block() { "$PYTHON" "$CLIENTS_DIR/readme_block.py" "$1" "$2"; }

# docs/webhooks.md's blocks, as written.
block "$doc" sign.sh >"$work/sign.sh"
block "$doc" send.sh >"$work/send.sh"
sign() { # sign SECRET ID TIMESTAMP BODY : prints the signature the openssl block computes
  WEBHOOK_SECRET="$1" id="$2" timestamp="$3" body="$4" bash -euo pipefail "$work/sign.sh"
}
published="$(sign whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 '{"test": 2432232314}')"
[[ $published == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" ]] || { echo "the openssl block printed $published, not the specification's signature"; exit 1; }
echo "docs/webhooks.md's openssl block reproduces the specification's published signature"

mkdir -p "$(dirname "$file")"
block "$readme" "$block_name" >"$file"
block "$readme" webhook-run.sh >"$work/webhook-run.sh"
port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
secret="whsec_$(head -c 32 /dev/urandom | base64)"
log="$work/receiver.log"
# Its own process group: `dotnet run` and `go run` start the receiver as a child.
WEBHOOK_SECRET="$secret" WEBHOOK_PORT="$port" setsid bash -euo pipefail "$work/webhook-run.sh" >"$log" 2>&1 &
receiver=$!
stop() { kill -TERM -- "-$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 143' TERM INT
for _ in $(seq 1 3000); do # up to 300 s: `dotnet run` builds first
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$receiver" 2>/dev/null || { echo "the receiver stopped:"; cat "$log"; exit 1; }
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "the receiver did not listen on $port within 300 s:"; cat "$log"; exit 1; }

failures=0
deliver() { # deliver EXPECTED_STATUS EXPECTED_LINE SIGNING_SECRET ID AGE_SECONDS
  local status body timestamp signature
  body='{"type":"message.arrived","timestamp":"2026-12-07T00:00:00Z","data":{"mailboxId":"mbx_1","uid":"u1","subject":"Grüße"}}'
  timestamp=$(($(date +%s) - $5))
  signature="$(sign "$3" "$4" "$timestamp" "$body")"
  status="$(WEBHOOK_URL="http://127.0.0.1:$port/" id="$4" timestamp="$timestamp" signature="$signature" body="$body" bash -euo pipefail "$work/send.sh")"
  # The receiver prints its line before it answers.
  if [[ $status != "$1" ]] || ! grep -qiE "^${2}\$" "$log"; then
    echo "FAIL expected $1 and a line /$2/, got $status; receiver output:"; cat "$log"
    failures=$((failures + 1))
  else
    echo "ok: $1, $2"
  fi
}
id="evt_$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
deliver 204 "verified $id message.arrived" "$secret" "$id" 0
deliver 204 "duplicate $id" "$secret" "$id" 0
deliver 400 "rejected (INVALID_SIGNATURE|InvalidSignature)" "whsec_$(head -c 32 /dev/urandom | base64)" "evt_other" 0
deliver 400 "rejected (TIMESTAMP_TOO_OLD|TimestampTooOld)" "$secret" "evt_old" 600
[[ $failures -eq 0 ]] && echo "webhook receiver: valid, duplicate, wrong-secret and replayed deliveries handled as documented"
