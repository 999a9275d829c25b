#!/usr/bin/env bash
# The client SDKs' test driver: uses the running test rig (or starts it with tests/rig/up.sh), starts a real MailGrpc
# server process (src/MailGrpc.Server/bin/<configuration>/net10.0/MailGrpc.Server.dll) on free
# loopback ports (Redis from the rig, a fresh API key), then for each language seeds a password mailbox on the rig's
# Dovecot and runs that SDK's smoke test (create mailbox, SetMailboxPassword, stream + verify SHA-256, acknowledge
# with delete, mailbox empty), plus each SDK's reassembly unit tests and the buf curl (grpcurl-style) test. Stops the
# server by PID. Prints PASS/FAIL per entry and a last line "N passed, N failed"; exits non-zero on any failure.
#
# Environment: CONFIGURATION (Release|Debug: which server build to run; default: the newest one, else Release),
# MAILGRPC_RIG_DIR (default /tmp/mailgrpc-rig), MAILGRPC_RIG_UP (the rig's up.sh, used only when no rig answers;
# default tests/rig/up.sh), SMOKE_ONLY (space-separated entry names: typescript python go dotnet dotnet-large grpcurl
# consumer-dotnet consumer-typescript consumer-python consumer-go),
# MAILGRPC_TEST_SERVER (a server executable to run instead of the dll, e.g. the native AOT build test.sh publishes).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$REPO_ROOT"
start_time=$SECONDS

results=()
passed=0
failed=0
work="$(mktemp -d "${TMPDIR:-/tmp}/mailgrpc-smoke.XXXXXX")"
server_pid=""
seeded_users=()

record() { # record NAME STATUS(0=pass) LOG
  if [[ $2 -eq 0 ]]; then
    passed=$((passed + 1)); results+=("PASS $1")
    echo "PASS $1"
    # Each smoke test ends with a one-line summary (figures included).
    if [[ -s ${3:-} ]]; then tail -n 2 "$3" | sed 's/^/    /'; fi
  else
    failed=$((failed + 1)); results+=("FAIL $1")
    echo "FAIL $1"
    [[ -f $3 ]] && { echo "--- last lines of $1:"; tail -n 25 "$3"; }
  fi
}

finish() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
  fi
  local user
  for user in "${seeded_users[@]}"; do
    "$PYTHON" "$CLIENTS_DIR/smoke/seed_mailbox.py" remove "$MAIL_ROOT" "$MAIL_UID" "$MAIL_GID" "$user" >/dev/null 2>&1 || true
  done
  echo
  printf '%s\n' "${results[@]}"
  echo "client smoke run took $((SECONDS - start_time)) s"
  rm -rf "$work"
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
trap 'finish; exit $?' EXIT

abort() { # a setup step failed: nothing else can run
  record "$1" 1 "${2:-}"
  exit 1
}

selected() { [[ -z ${SMOKE_ONLY:-} || " $SMOKE_ONLY " == *" $1 "* ]]; }

# --- tools and the rig -----------------------------------------------------------------------------------------------
ensure_apt_packages >"$work/setup.log" 2>&1 || abort "setup: Debian packages" "$work/setup.log"
ensure_npm_ci "$CLIENTS_DIR/typescript" >>"$work/setup.log" 2>&1 || abort "setup: npm ci (clients/typescript)" "$work/setup.log"
[[ -x node_modules/.bin/buf ]] || npm ci --no-audit --no-fund --loglevel=error >>"$work/setup.log" 2>&1 || abort "setup: npm ci (buf)" "$work/setup.log"

# A rig that already runs (test.sh starts it first) is used as it is: its up.sh restarts every component when called
# from another checkout, which would pull the rig from under whoever else uses it on this machine.
rig_dir="${MAILGRPC_RIG_DIR:-/tmp/mailgrpc-rig}"
rig_running() {
  [[ -s $rig_dir/rig.env ]] || return 1
  local port
  for port in $(grep -E '^(REDIS_PORT|POP3_PORT|POP3S_PORT|OAUTH_PORT)=' "$rig_dir/rig.env" | cut -d= -f2); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  done
}
if rig_running; then
  cp "$rig_dir/rig.env" "$work/rig.env"
else
  rig_up="${MAILGRPC_RIG_UP:-$REPO_ROOT/tests/rig/up.sh}"
  [[ -f $rig_up ]] || abort "setup: the test rig ($rig_up is missing)"
  bash "$rig_up" >"$work/rig.env" 2>"$work/rig.log" || abort "setup: the test rig" "$work/rig.log"
fi
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z0-9_]+$ ]] && printf -v "$key" '%s' "$value"
done <"$work/rig.env"
for key in REDIS POP3_HOST POP3_PORT POP3S_PORT CA_FILE MAIL_ROOT MAIL_UID MAIL_GID PASSWD_DIR; do
  [[ -n ${!key:-} ]] || abort "setup: the rig's environment lacks $key" "$work/rig.env"
done

# --- builds (each SDK's own toolchain) -------------------------------------------------------------------------------
configuration="${CONFIGURATION:-}"
if [[ -z $configuration ]]; then
  configuration=Release
  for c in Release Debug; do
    dll="src/MailGrpc.Server/bin/$c/net10.0/MailGrpc.Server.dll"
    if [[ -f $dll && ( ! -f src/MailGrpc.Server/bin/$configuration/net10.0/MailGrpc.Server.dll || $dll -nt src/MailGrpc.Server/bin/$configuration/net10.0/MailGrpc.Server.dll ) ]]; then configuration=$c; fi
  done
fi
server_dll="src/MailGrpc.Server/bin/$configuration/net10.0/MailGrpc.Server.dll"
smoke_dll="clients/dotnet/MailGrpc.Client.Smoke/bin/$configuration/net10.0/MailGrpc.Client.Smoke.dll"
up_to_date() { # up_to_date DLL DIRS... : the DLL exists and no source under DIRS is newer (skips a slow no-op build)
  local dll="$1"
  shift
  [[ -f $dll ]] || return 1
  [[ -z $(find "$@" protos Directory.Build.props Directory.Packages.props -newer "$dll" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.proto' -o -name '*.props' -o -name '*.json' \) -not -path '*/bin/*' -not -path '*/obj/*' -print -quit) ]]
}
# The solution build (test.sh) normally made both already.
(
  up_to_date "$server_dll" src || dotnet build src/MailGrpc.Server -c "$configuration" -nologo -v q >"$work/build-server.log" 2>&1 || exit 2
  up_to_date "$smoke_dll" src/MailGrpc.Contracts clients/dotnet || dotnet build clients/dotnet/MailGrpc.Client.Smoke -c "$configuration" -nologo -v q
) >"$work/build-dotnet.log" 2>&1 &
dotnet_build=$!
(
  go_env
  cd "$GO_PKG_DIR" && go build -o "$work/go-smoke" ./cmd/smoke
) >"$work/build-go.log" 2>&1 &
go_build=$!
(cd "$CLIENTS_DIR/typescript" && npx --no-install tsc -p tsconfig.json) >"$work/build-typescript.log" 2>&1
ts_status=$?
wait "$go_build"; go_status=$?
wait "$dotnet_build"; dotnet_status=$?
[[ $dotnet_status -ne 2 && -f $server_dll ]] || abort "setup: build the server" "$work/build-server.log"

# --- the server ------------------------------------------------------------------------------------------------------
# MAILGRPC_TEST_SERVER: a server executable to test instead of the built dll (test.sh passes the native AOT build).
if [[ -n ${MAILGRPC_TEST_SERVER:-} ]]; then
  [[ -x $MAILGRPC_TEST_SERVER ]] || abort "setup: MAILGRPC_TEST_SERVER=$MAILGRPC_TEST_SERVER is not an executable"
  server_cmd=("$(cd "$(dirname "$MAILGRPC_TEST_SERVER")" && pwd)/$(basename "$MAILGRPC_TEST_SERVER")")
  server_dir="$(dirname "${server_cmd[0]}")"
else
  server_cmd=(dotnet "$server_dll")
  server_dir="$(dirname "$server_dll")"
fi
# A free loopback port for every Kestrel endpoint the server's appsettings.json declares (Grpc, Web, Metrics, ...):
# fixed default ports may be taken by other servers on this machine.
endpoint_env=()
while read -r name port; do
  endpoint_env+=("Kestrel__Endpoints__${name}__Url=http://127.0.0.1:$port")
  [[ $name == Grpc ]] && grpc_port=$port
done < <("$PYTHON" - "$server_dir/appsettings.json" <<'PY'
import json, socket, sys
names = list(json.load(open(sys.argv[1])).get("Kestrel", {}).get("Endpoints", {})) or ["Grpc"]
names = names if "Grpc" in names else ["Grpc"] + names
socks = []
for name in names:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    print(name, s.getsockname()[1])
PY
)
[[ -n ${grpc_port:-} ]] || abort "setup: no free port for the server"
api_key="smoke-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
key_hash="$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)"
tenant="smoke-$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
env "${endpoint_env[@]}" \
  ASPNETCORE_ENVIRONMENT=Production \
  Kestrel__Endpoints__Grpc__Protocols=Http2 \
  MailGrpc__Redis__Configuration="$REDIS" \
  MailGrpc__ApiKeys__0__Tenant="$tenant" \
  MailGrpc__ApiKeys__0__KeyHash="$key_hash" \
  MailGrpc__Network__AllowedHosts__0=127.0.0.1 \
  MailGrpc__Tls__ExtraTrustedCaFile="$CA_FILE" \
  MailGrpc__Encryption__Keys__smoke="$(head -c 32 /dev/urandom | base64)" \
  MailGrpc__Encryption__ActiveKeyId=smoke \
  "${server_cmd[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
# Ready when the health service answers over gRPC (the port alone opens before every endpoint is bound).
buf="$(ls "$REPO_ROOT"/node_modules/@bufbuild/buf-linux-*/bin/buf 2>/dev/null | head -n 1)"
[[ -x $buf ]] || buf="$REPO_ROOT/node_modules/.bin/buf"
ready=""
for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2>/dev/null || abort "setup: start the server" "$work/server.log"
  if (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null &&
    "$buf" curl --protocol grpc --http2-prior-knowledge -d '{}' "http://127.0.0.1:$grpc_port/grpc.health.v1.Health/Check" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n $ready ]] || abort "setup: the server did not answer health checks on $grpc_port within 30 s" "$work/server.log"
sleep 0.3
kill -0 "$server_pid" 2>/dev/null || abort "setup: the server stopped right after starting" "$work/server.log"
echo "builds and server start took $((SECONDS - start_time)) s"
echo "server PID $server_pid on http://127.0.0.1:$grpc_port (tenant $tenant, $configuration build)"

export MAILGRPC_ADDRESS="http://127.0.0.1:$grpc_port" MAILGRPC_TARGET="127.0.0.1:$grpc_port" MAILGRPC_API_KEY="$api_key"

seed() { # seed LANG SECURITY [seed|seed-large] : a fresh rig user with three messages; exports the smoke test's environment
  local user="smoke-$1-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')@rig.test"
  local password
  password="pw-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
  seeded_users+=("$user")
  MAILGRPC_SMOKE_EXPECTED_SHA256="$("$PYTHON" "$CLIENTS_DIR/smoke/seed_mailbox.py" "${3:-seed}" "$MAIL_ROOT" "$MAIL_UID" "$MAIL_GID" "$user" "$password")" || return 1
  export MAILGRPC_SMOKE_EXPECTED_SHA256 MAILGRPC_SMOKE_USER="$user" MAILGRPC_SMOKE_PASSWORD="$password" MAILGRPC_SMOKE_POP3_HOST="$POP3_HOST"
  export MAILGRPC_SMOKE_POP3_SECURITY="$2"
  if [[ $2 == IMPLICIT_TLS ]]; then export MAILGRPC_SMOKE_POP3_PORT="$POP3S_PORT"; else export MAILGRPC_SMOKE_POP3_PORT="$POP3_PORT"; fi
}

run() { # run NAME COMMAND... : one entry, output in a log
  local name="$1" log="$work/${1//[^A-Za-z0-9]/_}.log"
  shift
  if ! selected "${name%% *}"; then return; fi
  echo "==> $name"
  local started=$SECONDS status
  timeout "${run_timeout:-120}" "$@" >"$log" 2>&1
  status=$?
  echo "    ($((SECONDS - started)) s)"
  record "$name" "$status" "$log"
}

smoke() { # smoke LANG SECURITY BUILD_STATUS BUILD_LOG COMMAND...
  local lang="$1" security="$2" build_status="$3" build_log="$4"
  shift 4
  selected "$lang" || return 0
  if [[ $build_status -ne 0 ]]; then record "$lang smoke test (build)" 1 "$build_log"; return; fi
  seed "$lang" "$security" || { record "$lang smoke test (seeding the rig mailbox)" 1 ""; return; }
  run "$lang smoke test (POP3 $security)" "$@"
}

# --- per language ----------------------------------------------------------------------------------------------------
run "typescript unit tests (reassembly)" bash -c "cd '$CLIENTS_DIR/typescript' && node --test dist/test/"
run "python unit tests (reassembly)" env PYTHONPATH="$CLIENTS_DIR/python/src" "$PYTHON" -m unittest discover -s "$CLIENTS_DIR/python/tests"
run "go unit tests (reassembly)" bash -c "source '$CLIENTS_DIR/tools.sh' && go_env && cd \"\$GO_PKG_DIR\" && go test ./mailgrpc"

smoke dotnet IMPLICIT_TLS "$dotnet_status" "$work/build-dotnet.log" dotnet "$smoke_dll"
smoke typescript NONE "$ts_status" "$work/build-typescript.log" node "$CLIENTS_DIR/typescript/dist/smoke/smoke.js"
smoke python NONE 0 "" env PYTHONPATH="$CLIENTS_DIR/python/src" "$PYTHON" "$CLIENTS_DIR/python/smoke.py"
if selected dotnet-large; then
  # Three 30 MB messages through the C# facade: the program fails if peak live memory exceeds about one message.
  if [[ $dotnet_status -eq 0 ]] && seed dotnet-large NONE seed-large; then
    run "dotnet-large 3 x 30 MB messages, memory stays ~1 message" dotnet "$smoke_dll"
  else
    record "dotnet-large 3 x 30 MB messages (build or seeding)" 1 "$work/build-dotnet.log"
  fi
fi
smoke go IMPLICIT_TLS "$go_status" "$work/build-go.log" "$work/go-smoke"
# Each SDK as a new user meets it: packed, installed from the artifact into a fresh project, the README's program run.
# The four run at once — each has its own seeded mailbox, package folder, project and free ports, and most of their time
# is package installs and builds that wait on the disk or the network — and are reported in order.
consumers=()
for lang in dotnet typescript python go; do
  selected "consumer-$lang" || continue
  name="consumer-$lang (package, install, README program)"
  log="$work/${name//[^A-Za-z0-9]/_}.log"
  if ! seed "consumer-$lang" IMPLICIT_TLS; then record "$name (seeding the rig mailbox)" 1 ""; continue; fi
  (
    started=$SECONDS
    timeout 900 bash "$CLIENTS_DIR/consumer-test.sh" "$lang" >"$log" 2>&1
    echo "$? $((SECONDS - started))" >"$log.status"
  ) &
  consumers+=("$!|$name|$log")
done
for consumer in "${consumers[@]}"; do
  IFS='|' read -r pid name log <<<"$consumer"
  wait "$pid"
  status=1 took="?"
  [[ -s $log.status ]] && read -r status took <"$log.status"
  echo "==> $name"
  echo "    ($took s, beside the other consumer installs)"
  record "$name" "$status" "$log"
done
# Opt-in only (bench/sdks.sh): each SDK and a bare client of its gRPC library stream one 1,000 x 50 KB mailbox.
if [[ " ${SMOKE_ONLY:-} " == *" bench "* ]]; then
  seed bench NONE seed-bench && run_timeout=1800 run "bench SDK streaming (1,000 x 50 KB)" bash "$REPO_ROOT/bench/sdks/run.sh"
fi
if selected grpcurl; then
  seed grpcurl NONE && run "grpcurl (buf curl: reflection, unary, server stream)" bash "$CLIENTS_DIR/grpcurl-test.sh"
fi

if [[ $failed -ne 0 ]]; then
  echo "--- last lines of the server log:"
  tail -n 30 "$work/server.log"
fi
