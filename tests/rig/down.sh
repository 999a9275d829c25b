#!/usr/bin/env bash
# Stops the MailGrpc test rig: exactly the processes up.sh started, found through their pid files
# (Dovecot masters, the OAuth server, Redis), and waits until their ports are closed.
# Safe to call when nothing runs. Leaves the run dir (logs, certificates, mail) in place.
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

[[ -d $RUN ]] || exit 0
exec 9>>"$LOCK_FILE"
flock -w 300 9 || rig_die "timed out waiting for $LOCK_FILE"

components_stop dovecot-main dovecot-wrongname dovecot-strict oidc oauth redis
rm -f "$RUN/rig.sig"
rig_log "down"
