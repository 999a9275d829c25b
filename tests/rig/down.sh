#!/usr/bin/env bash
# Stops the MailGrpc test rig: exactly the processes up.sh started, found through their pid files
# (Dovecot masters, the OAuth server, Redis, the Redis Cluster's nodes), and waits until their ports are closed.
# Safe to call when nothing runs. Leaves the run dir (logs, certificates, mail) in place.
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

[[ -d $RUN ]] || exit 0
exec 9>>"$LOCK_FILE"
flock -w 300 9 || rig_die "timed out waiting for $LOCK_FILE"

components_stop dovecot-main dovecot-wrongname dovecot-strict oidc oauth redis
rm -f "$RUN/rig.sig"
# The Redis Cluster the fault and cluster tests start (cluster.sh) is part of the rig too: stopped by its pid files.
if [[ -d $RUN/cluster ]]; then bash "${BASH_SOURCE[0]%/*}/cluster.sh" down 9>&- || true; fi
rig_log "down"
