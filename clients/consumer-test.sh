#!/usr/bin/env bash
# The consumer test of one SDK, as a new user meets it: builds the SDK's package the way its README says, installs it
# from that artifact into a fresh project outside the repository (the README's own install block), and runs the
# README's own program (its marked code block, extracted — not a copy) against a live server and the rig. The program
# registers an app-password mailbox, streams it (SHA-256 verified by the SDK), acknowledges with delete, sees it empty,
# and branches on the reasons of two refused calls; this script then checks what it printed:
#   "stored <uid> sha256 <hex>" for exactly the seeded messages, "0 messages left",
#   "no such mailbox: MAILBOX_NOT_FOUND", "wrong API key: API_KEY_INVALID".
#
# Usage: clients/consumer-test.sh dotnet|typescript|python|go
# Needs (clients/smoke-test.sh sets them): MAILGRPC_ADDRESS, MAILGRPC_TARGET, MAILGRPC_API_KEY, and a seeded rig
# mailbox reachable over implicit TLS: MAILGRPC_SMOKE_USER, _PASSWORD, _POP3_HOST, _POP3_PORT, _EXPECTED_SHA256.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
lang="${1:?usage: consumer-test.sh dotnet|typescript|python|go}"
: "${MAILGRPC_ADDRESS:?}" "${MAILGRPC_TARGET:?}" "${MAILGRPC_API_KEY:?}" "${MAILGRPC_SMOKE_USER:?}" "${MAILGRPC_SMOKE_PASSWORD:?}"
: "${MAILGRPC_SMOKE_POP3_HOST:?}" "${MAILGRPC_SMOKE_POP3_PORT:?}" "${MAILGRPC_SMOKE_EXPECTED_SHA256:?}"
version="$(tr -d '[:space:]' <"$REPO_ROOT/VERSION")"
work="$(mktemp -d "${TMPDIR:-/tmp}/mailgrpc-consumer-$lang.XXXXXX")"
trap 'rm -rf "$work"' EXIT
packages="$work/packages"
mkdir -p "$packages" "$work/consumer"
readme="$CLIENTS_DIR/$lang/README.md"
block() { "$PYTHON" "$CLIENTS_DIR/readme_block.py" "$readme" "$1"; }

# The README program's environment (its documented variables).
export MAILGRPC_PACKAGES="$packages" MAILBOX_USERNAME="$MAILGRPC_SMOKE_USER" MAILBOX_PASSWORD="$MAILGRPC_SMOKE_PASSWORD"
export POP3_HOST="$MAILGRPC_SMOKE_POP3_HOST" POP3_PORT="$MAILGRPC_SMOKE_POP3_PORT"

echo "== build the $lang package $version"
case "$lang" in
  dotnet)
    dotnet pack "$CLIENTS_DIR/dotnet/MailGrpc.Packages.slnf" -c Release -o "$packages" -nologo -v q
    # A package of this version restored earlier would shadow the one just built.
    rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/mailgrpc.client/"$version" "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/mailgrpc.contracts/"$version"
    program=Program.cs
    receiver_block=Receiver.cs receiver_file=Program.cs
    ;;
  typescript)
    (cd "$CLIENTS_DIR/typescript" && npm ci --no-audit --no-fund --loglevel=error && npm pack --pack-destination "$packages" --loglevel=error)
    # Dependencies come from npm's cache when the registry is unreachable (the package's own tarball is local).
    export npm_config_prefer_offline=true npm_config_audit=false npm_config_fund=false
    program=main.mjs
    receiver_block=receiver.mjs receiver_file=receiver.mjs
    ;;
  python)
    "$PYTHON" -m pip wheel --no-deps --no-build-isolation --quiet -w "$packages" "$CLIENTS_DIR/python"
    wheel="$(ls "$packages"/*.whl)"
    "$PYTHON" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for need in ("mailgrpc_client/py.typed", "mailgrpc/py.typed", "mailgrpc/v1/mailbox_pb2.pyi", "mailgrpc/v1/error_reason_pb2.pyi", "google/rpc/error_details_pb2.pyi"):
    if need not in names:
        sys.exit(f"the wheel lacks {need}")
print("wheel has py.typed and stubs:", sys.argv[1].rsplit("/", 1)[-1])
PY
    program=main.py
    receiver_block=receiver.py receiver_file=receiver.py
    ;;
  go)
    tar -C "$CLIENTS_DIR/go" --exclude=./cmd -czf "$packages/mailgrpc-go-$version.tar.gz" .
    program=main.go
    receiver_block=receiver.go receiver_file=../webhook-receiver/main.go
    ;;
  *) echo "unknown SDK $lang" >&2; exit 2 ;;
esac

echo "== install it into a fresh project and run the program (the README's install, program and run blocks)"
block install.sh >"$work/install.sh"
block "$program" >"$work/$program"
block run.sh >"$work/run.sh"
cd "$work/consumer"
# One shell for all three blocks: the install block may change directory and set variables the run block uses.
status=0
REPO_ROOT="$REPO_ROOT" work="$work" program="$program" readme="$readme" receiver_block="$receiver_block" receiver_file="$receiver_file" bash -euo pipefail -c '
  if ! source "$work/install.sh" >"$work/install.log" 2>&1; then cat "$work/install.log"; echo "the README install block failed"; exit 1; fi
  cat "$work/install.log"
  if grep -Ei "EBADENGINE|Unsupported engine|warn" "$work/install.log"; then echo "installing the package printed warnings"; exit 1; fi
  case "$PWD/" in "$REPO_ROOT"/*) echo "the consumer project $PWD is inside the repository"; exit 1 ;; esac
  cp "$work/$program" .
  echo "consumer project: $PWD"
  source "$work/run.sh" 2>&1 | tee "$work/run.log"
  # The README webhook receiver, in the same project and environment (docs/webhooks.md sends it deliveries).
  bash "$REPO_ROOT/clients/webhook-receiver-test.sh" "$readme" "$receiver_block" "$receiver_file" "$work"
' || status=$?
[[ $status -eq 0 ]] || { echo "the consumer program failed ($status)"; exit 1; }

echo "== check what the program printed"
"$PYTHON" - "$work/run.log" "$MAILGRPC_SMOKE_EXPECTED_SHA256" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
expected = sorted(sys.argv[2].split(","))
stored = sorted(re.findall(r"^stored \S+ sha256 ([0-9a-f]{64})$", out, re.M))
problems = []
if stored != expected:
    problems.append(f"streamed SHA-256s {stored} != seeded {expected}")
for line in ("0 messages left", "no such mailbox: MAILBOX_NOT_FOUND", "wrong API key: API_KEY_INVALID"):
    if not re.search("^" + re.escape(line) + "$", out, re.M):
        problems.append(f"missing line: {line}")
if problems:
    sys.exit("\n".join(problems))
print(f"consumer program: {len(stored)} messages stored with verified SHA-256, mailbox empty, both reasons branched on")
PY
