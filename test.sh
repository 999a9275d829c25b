#!/usr/bin/env bash
# MailGrpc's whole test suite, as CI runs it: installs and starts the test rig (Redis, OAuth2/OIDC server, Dovecot POP3
# on 127.0.0.1), checks the protos with buf, builds with warnings as errors, publishes the server as native AOT (what
# ships), runs every .NET test (process tests on the AOT server), the client SDK checks and smoke tests, then stops
# what it started. Ends with one line "N passed, N failed"; exits non-zero on any failure. `./test.sh --fast` runs only the
# rig-free tests (the inner loop, below).
set -uo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# ./test.sh --fast: the inner loop. Builds the test project and runs every rig-free test (xunit trait Layer=Fast: no
# Redis, Dovecot, OAuth server or server process; in-process sockets only) with no rig started and no AOT publish.
# Ends with "N passed, N failed" like the full run; docs/testing.md says what each layer holds and how long it takes.
if [[ ${1:-} == --fast ]]; then
  results="$root/artifacts/test-results-fast"
  rm -rf "$results" && mkdir -p "$results"
  fast_configuration="${CONFIGURATION:-Debug}"
  start=$SECONDS
  # Warnings are errors through Directory.Build.props; no -warnaserror here, which would also fail an offline restore
  # (NU1900: no vulnerability data without network).
  if ! dotnet build tests/MailGrpc.Tests -c "$fast_configuration" -nologo -v q; then echo "0 passed, 1 failed"; exit 1; fi
  built=$SECONDS
  dotnet test tests/MailGrpc.Tests -c "$fast_configuration" --no-build --nologo --filter "Layer=Fast" \
    --logger "trx;LogFileName=fast.trx" --results-directory "$results" 2>&1 | tee "$results/dotnet-test.log"
  counters="$(grep -o '<Counters [^>]*>' "$results/fast.trx" 2>/dev/null | head -n 1)"
  p="$(grep -oE 'passed="[0-9]+"' <<<"$counters" | grep -oE '[0-9]+')"
  f="$(grep -oE ' failed="[0-9]+"' <<<"$counters" | grep -oE '[0-9]+')"
  [ -n "$counters" ] || f=1
  echo "fast layer: build $((built - start)) s, tests $((SECONDS - built)) s"
  echo "${p:-0} passed, ${f:-0} failed"
  [ "${f:-0}" -eq 0 ]
  exit
fi

configuration="${CONFIGURATION:-Release}"
results="$root/artifacts/test-results"
rm -rf "$results" && mkdir -p "$results"

passed=0
failed=0
failures=()

check() { # check NAME COMMAND... : one pass/fail entry for a whole command
  local name="$1"; shift
  echo "==> $name"
  if "$@"; then passed=$((passed + 1)); echo "PASS $name"; else failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; fi
}

add_counts() { # add_counts NAME FILE : adds the last "N passed, N failed" line a sub-suite printed
  local line p f
  line="$(grep -E '^[A-Za-z:]* ?[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)"
  if [ -z "$line" ]; then failed=$((failed + 1)); failures+=("$1 (no result line)"); return; fi
  p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')"
  f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')"
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$1 ($f failed)")
}

# Wall time per phase, printed as a table before the count (docs/testing.md, "Where the full run's time goes").
run_started=$SECONDS
phase_times=()
phase() { phase_times+=("$(printf '%-78s %5s s' "$1" "$2")"); } # phase NAME SECONDS
timed() { # timed NAME COMMAND... : runs COMMAND (a function or program) and records its wall time
  local name="$1" started=$SECONDS status
  shift
  "$@"
  status=$?
  phase "$name" $((SECONDS - started))
  return $status
}

# 1. The rig, started in the background beside the contract checks and the build (it is apt, npm and process starts;
#    the build is CPU): waited for before the AOT publish, whose toolchain install also uses apt. Started here means
#    stopped here, by PID (down.sh); a rig that was already up is left running.
rig_started=0
if ! (echo >/dev/tcp/127.0.0.1/"${MAILGRPC_RIG_REDIS_PORT:-16379}") 2>/dev/null; then rig_started=1; fi
cleanup() { if [ "$rig_started" = 1 ]; then bash "$root/tests/rig/down.sh" || true; rig_started=0; fi; }
trap cleanup EXIT
(
  started=$SECONDS
  bash tests/rig/up.sh
  status=$?
  echo "$((SECONDS - started))" >"$results/rig-up.seconds"
  exit $status
) >"$results/rig-up.log" 2>&1 &
rig_pid=$!
wait_for_rig() {
  local status
  wait "$rig_pid"
  status=$?
  echo "==> test rig (tests/rig/up.sh, started in the background)"
  cat "$results/rig-up.log"
  phase "test rig start (tests/rig/up.sh; in the background, beside buf and the build)" "$(cat "$results/rig-up.seconds" 2>/dev/null || echo '?')"
  if [ "$status" -ne 0 ]; then echo "The test rig did not start."; echo "0 passed, 1 failed"; exit 1; fi
}

# 2. Contracts.
contracts() {
  [ -x node_modules/.bin/buf ] || npm ci --no-audit --no-fund >/dev/null
  check "buf format" npx --no-install buf format --diff --exit-code
  check "buf lint" npx --no-install buf lint
  if git rev-parse --verify -q main >/dev/null && git cat-file -e main:protos/mailgrpc/v1 2>/dev/null; then
    check "buf breaking (against main)" npx --no-install buf breaking --against ".git#branch=main"
  fi
}
timed "buf format, lint, breaking" contracts

# 3. Build: zero warnings (warnings are errors).
timed "dotnet build MailGrpc.sln -c $configuration -warnaserror (restore included)" \
  check "dotnet build ($configuration, warnings as errors)" dotnet build MailGrpc.sln -c "$configuration" -nologo -v q -warnaserror
wait_for_rig

# 3b. The server as it ships: native AOT (warnings as errors). The process tests and the client smoke tests run on it.
#     Needs clang and zlib's headers (Debian: clang zlib1g-dev), installed here when missing and running as root.
ensure_aot_toolchain() {
  local missing=() pkg
  for pkg in clang zlib1g-dev; do dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -q '^installed$' || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  if ((EUID != 0)); then echo "native AOT needs: ${missing[*]} (apt-get install them as root)"; return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
publish_aot() {
  ensure_aot_toolchain &&
    dotnet publish src/MailGrpc.Server -c Release -r linux-x64 -nologo -v q -warnaserror -o "$root/artifacts/aot"
}
rm -rf "$root/artifacts/aot"
timed "native AOT publish of the server (toolchain install included)" check "server native AOT publish (warnings as errors)" publish_aot
if [ -x "$root/artifacts/aot/MailGrpc.Server" ]; then export MAILGRPC_TEST_SERVER="$root/artifacts/aot/MailGrpc.Server"; fi

# 4. .NET tests (every test project in the solution), and beside them (4b, 5) the walkthrough and the client SDK checks:
#    the .NET tests mostly wait (a browser, process starts, Dovecot's lock wait), and these use the same rig with their own
#    users, mailboxes, API keys and free ports. Their output goes to a log shown after the .NET tests; their counts join.
side_checks() {
  passed=0; failed=0; failures=()
  local started
  # 4b. The walkthrough: docs/getting-started.md's bash blocks, run in order against the rig (the page is the test).
  started=$SECONDS
  check "getting-started walkthrough (docs/getting-started.md)" bash tests/getting-started/run.sh
  echo "PHASE|getting-started walkthrough (docs/getting-started.md)|$((SECONDS - started))"
  # 5. Client SDKs: generated code up to date, one version, and against a live server and the rig: each language's
  #    smoke test, each SDK's consumer test (package built, installed from the artifact, its README's program run) and
  #    buf curl.
  started=$SECONDS
  if [ -x clients/check-generated.sh ]; then check "generated clients are up to date" clients/check-generated.sh; fi
  # (sdks) One version for the contract and every SDK (VERSION, its copies, READMEs, CHANGELOG).
  if [ -x clients/version.sh ]; then check "one version in every SDK" clients/version.sh; fi
  echo "PHASE|generated clients up to date, one version|$((SECONDS - started))"
  if [ -x clients/smoke-test.sh ]; then
    started=$SECONDS
    clients/smoke-test.sh 2>&1 | tee "$results/clients-smoke.log"
    add_counts "client smoke tests" "$results/clients-smoke.log"
    echo "PHASE|client SDK smoke tests and the four consumer installs (clients/smoke-test.sh)|$((SECONDS - started))"
  fi
  local f
  for f in "${failures[@]}"; do echo "FAILED|$f"; done
  echo "SIDE|$passed|$failed"
}
side_started=$SECONDS
side_checks >"$results/side-checks.log" 2>&1 &
side_pid=$!

dotnet_tests() {
  dotnet test MailGrpc.sln -c "$configuration" --no-build --nologo \
    --logger "trx" --results-directory "$results" 2>&1 | tee "$results/dotnet-test.log"
}
timed ".NET tests (dotnet test MailGrpc.sln)" dotnet_tests
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  p="$(grep -oE 'passed="[0-9]+"' <<<"$counters" | grep -oE '[0-9]+')"
  f="$(grep -oE ' failed="[0-9]+"' <<<"$counters" | grep -oE '[0-9]+')"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ "${f:-0}" -eq 0 ] || failures+=("$(basename "$trx") ($f failed)")
  # Name each failed test, so the last lines of a CI log say what failed.
  while IFS= read -r name; do failures+=("  $name"); done < <(
    grep -oE '<UnitTestResult [^>]*outcome="Failed"[^>]*>' "$trx" | grep -oE 'testName="[^"]*"' | cut -d'"' -f2 |
      sed 's/&quot;/"/g; s/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g' | head -n 20)
done
if ! ls "$results"/*.trx >/dev/null 2>&1; then failed=$((failed + 1)); failures+=("dotnet test produced no results"); fi

wait "$side_pid"
phase "walkthrough and client SDK checks (beside the .NET tests, from their start)" $((SECONDS - side_started))
echo "==> walkthrough and client SDK checks (ran beside the .NET tests; $results/side-checks.log)"
grep -vE '^(PHASE|FAILED|SIDE)\|' "$results/side-checks.log"
while IFS='|' read -r kind a b; do
  case "$kind" in
    PHASE) phase "  $a" "$b" ;;
    FAILED) failures+=("$a") ;;
    SIDE) passed=$((passed + a)); failed=$((failed + b)); side_counted=1 ;;
  esac
done < <(grep -E '^(PHASE|FAILED|SIDE)\|' "$results/side-checks.log")
if [ -z "${side_counted:-}" ]; then failed=$((failed + 1)); failures+=("walkthrough and client checks (no result line)"); fi

# Stop the rig first, so the count is the very last line.
timed "test rig stop (tests/rig/down.sh)" cleanup
trap - EXIT
echo
echo "Where the time went (wall clock; indented lines ran inside the line above them):"
printf '  %s\n' "${phase_times[@]}"
printf '  %-78s %5s s\n' "whole run" $((SECONDS - run_started))
echo
if [ ${#failures[@]} -gt 0 ]; then printf 'Failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
