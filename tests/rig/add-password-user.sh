#!/usr/bin/env bash
# add-password-user.sh USER PASSWORD
# Adds (or replaces) an app-password user for PLAIN/LOGIN logins; usable when the script returns.
# Dovecot re-reads the passwd file by itself, so no reload is needed, but it has two blind spots
# the write protocol below works around (RigEnvironment.AddPasswordUser follows the same one):
# - it checks the file at most once per second per auth process: a login within the same second
#   as an earlier lookup still sees the old file, so we wait for the next wall-clock second;
# - it reloads only when the whole-second mtime or the size changed, so the mtime is moved
#   forward by at least one second.
# Writers take an flock on $PASSWD_LOCK, write a copy and rename it over the file.
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

(($# == 2)) || { echo "usage: $0 USER PASSWORD" >&2; exit 2; }
user=${1,,} # Dovecot looks users up lower-cased (username_format=%Lu)
password=$2
[[ $user =~ ^[^:[:space:]]+$ ]] || rig_die "user must not contain ':' or white space"
[[ -f $PASSWD_FILE ]] || rig_die "$PASSWD_FILE does not exist; run tests/rig/up.sh first"

# SHA512-CRYPT through Dovecot's own tool (the password is visible in `ps` for a moment: fine
# for a loopback test box, never for real credentials).
hash=$(doveadm -c "$RUN/dovecot/main/dovecot.conf" pw -s SHA512-CRYPT -p "$password")

exec 8>>"$PASSWD_LOCK"
flock -w 30 8 || rig_die "timed out waiting for $PASSWD_LOCK"
old_mtime=$(stat -c %Y "$PASSWD_FILE")
tmp=$PASSWD_FILE.tmp.$$
awk -F: -v u="$user" '$1 != u' "$PASSWD_FILE" >"$tmp"
printf '%s:%s::::::\n' "$user" "$hash" >>"$tmp"
chmod 644 "$tmp"
now=$(date +%s)
new_mtime=$((now > old_mtime ? now : old_mtime + 1))
touch -d "@$new_mtime" "$tmp"
mv -f "$tmp" "$PASSWD_FILE"
flock -u 8

ns=$(date +%N)
ms=$(((1000000000 - 10#$ns) / 1000000 + 20))
sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
echo "added $user"
