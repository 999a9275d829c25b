#!/usr/bin/env bash
# Fails (exit 1) when the checked-in generated clients differ from what clients/generate.sh makes from protos/ now.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash "$CLIENTS_DIR/generate.sh" "$tmp" 2>/dev/null

status=0
for rel in typescript/src/gen python/src/mailgrpc python/src/google go/mailgrpcv1; do
  if ! diff -r -q "$tmp/$rel" "$CLIENTS_DIR/$rel" >/dev/null 2>&1; then
    echo "STALE: clients/$rel differs from a fresh generation:" >&2
    diff -r -u "$CLIENTS_DIR/$rel" "$tmp/$rel" 2>&1 | head -40 >&2 || true
    status=1
  fi
done
if ((status)); then
  echo "Generated clients are stale: run clients/generate.sh and commit the result." >&2
else
  echo "Generated clients are up to date."
fi
exit "$status"
