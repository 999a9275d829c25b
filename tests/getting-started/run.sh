#!/usr/bin/env bash
# Runs docs/getting-started.md as written: its ```bash blocks, in order, in ONE bash process from the repository root
# (the blocks share variables, as in a reader's terminal), with errexit and pipefail. After a block, every line of the
# ```text block that follows it under "Expected output" must appear (as a fixed substring, leading spaces ignored) in
# what that block printed. ```sh blocks (the production paths) are not run. Whatever the page started in the
# background ($SERVER_PID, $WATCH_PID) is stopped by PID at the end, pass or fail.
# Usage: tests/getting-started/run.sh [DOC]   Prints each block's output; ends with "getting-started: N passed, M failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
doc="${1:-$root/docs/getting-started.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. Split the page into numbered blocks: work/N.sh (bash) and work/N.expect (the expected lines after it).
awk -v dir="$work" '
  BEGIN { n = 0; mode = "" }
  /^```bash[[:space:]]*$/ && mode == "" { n++; mode = "bash"; file = dir "/" n ".sh"; printf "" > file; next }
  /^```text[[:space:]]*$/ && mode == "" && n > 0 && expecting { mode = "expect"; file = dir "/" n ".expect"; printf "" > file; next }
  /^```/ && mode != "" { mode = ""; expecting = 0; close(file); next }
  /^```/ && mode == "" { inother = !inother; next }
  mode != "" { print > file; next }
  /^Expected output/ { expecting = 1 }
' "$doc"
blocks=$(find "$work" -name '*.sh' | wc -l)
if ((blocks == 0)); then echo "getting-started: no bash blocks in $doc"; echo "getting-started: 0 passed, 1 failed"; exit 1; fi

# 2. One script: each block runs in the current shell (errexit applies to every command in it) with its output
#    captured, then shown, then checked. A failing command ends the run; the EXIT trap shows that block's output.
script="$work/walkthrough.sh"
{
  echo 'set -eo pipefail'
  echo "cd '$root'"
  echo 'exec 3>&1 4>&2'
  # Stop by PID what the page started, however the run ends; on failure show the failing block's output.
  echo 'stop_started() { for p in "${WATCH_PID:-}" "${SERVER_PID:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; return 0; }'
  echo "on_exit() { rc=\$?; exec 1>&3 2>&4; if [ \$rc -ne 0 ] && [ -n \"\${CURRENT_BLOCK:-}\" ]; then cat \"$work/\$CURRENT_BLOCK.out\"; echo \"block \$CURRENT_BLOCK failed (exit \$rc)\"; fi; stop_started; exit \$rc; }"
  echo 'trap on_exit EXIT'
  for ((i = 1; i <= blocks; i++)); do
    echo "echo '--- block $i'"
    echo "CURRENT_BLOCK=$i"
    echo "exec >'$work/$i.out' 2>&1"
    cat "$work/$i.sh"
    echo "exec 1>&3 2>&4"
    echo "CURRENT_BLOCK="
    echo "cat '$work/$i.out'"
    if [ -s "$work/$i.expect" ]; then
      while IFS= read -r line; do
        line="${line#"${line%%[![:space:]]*}"}"
        [ -z "$line" ] && continue
        printf 'grep -qF -- %q %q || { echo %q; exit 11; }\n' "$line" "$work/$i.out" "block $i: expected output not found: $line"
      done <"$work/$i.expect"
    fi
  done
  echo 'echo "--- all blocks ran and printed what the page says"'
} >"$script"

# The page's own environment: a reader's shell, not this runner's.
env -u MAILGRPC_TEST_SERVER bash "$script"
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "getting-started: $blocks blocks ran, 1 passed, 0 failed"
else
  [ "$root/mailgrpc-server.log" -nt "$script" ] && { echo "--- tail mailgrpc-server.log"; tail -n 40 "$root/mailgrpc-server.log"; }
  echo "getting-started: 0 passed, 1 failed"
fi
exit "$rc"
