#!/usr/bin/env bash
# add-password-user.sh USER PASSWORD   adds (or replaces) an app-password user for PLAIN/LOGIN logins
# add-password-user.sh --remove USER   removes one
# The one writer of the rig's app-password users (the tests' RigSettings.AddPasswordUser runs this script too).
# Usable when the script returns, with no wait for a new user:
# - each user has its own passwd-file, PASSWD_DIR/<lower-cased user>, written to a temporary name and renamed, so a
#   reader never sees half a file. Dovecot opens a user's file at the user's first lookup.
# - Dovecot looks at a file it already read at most once per second (and reloads it only when its whole-second mtime
#   or its size changed). So when a user's file is REPLACED, the mtime is moved forward by at least a second and the
#   script waits — for a condition, not a time — until every Dovecot instance that serves PLAIN accepts the new
#   password (`doveadm auth test`; refusals cost nothing: auth_failure_delay = 0).
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

remove=
if [[ ${1:-} == --remove ]]; then
  remove=1
  shift
  (($# == 1)) || { echo "usage: $0 --remove USER" >&2; exit 2; }
else
  (($# == 2)) || { echo "usage: $0 USER PASSWORD | --remove USER" >&2; exit 2; }
fi
user=${1,,} # Dovecot looks users up lower-cased (username_format=%Lu)
password=${2:-}
[[ $user =~ ^[^:/[:space:]]+$ && $user != .* ]] || rig_die "user must not contain ':', '/' or white space, nor start with '.'"
[[ -d $PASSWD_DIR ]] || rig_die "$PASSWD_DIR does not exist; run tests/rig/up.sh first"
file=$PASSWD_DIR/$user

if [[ -n $remove ]]; then
  rm -f "$file"
  echo "removed $user"
  exit 0
fi

# SHA512-CRYPT through Dovecot's own tool (the password is visible in `ps` for a moment: fine
# for a loopback test box, never for real credentials).
hash=$(doveadm -c "$RUN/dovecot/main/dovecot.conf" pw -s SHA512-CRYPT -p "$password")

replaced=
old_mtime=0
if [[ -e $file ]]; then
  replaced=1
  old_mtime=$(stat -c %Y "$file")
fi
tmp=$file.tmp.$$
printf '%s:%s::::::\n' "$user" "$hash" >"$tmp"
chmod 644 "$tmp"
now=$(date +%s)
new_mtime=$((now > old_mtime ? now : old_mtime + 1))
touch -d "@$new_mtime" "$tmp"
mv -f "$tmp" "$file"

if [[ -n $replaced ]]; then
  for instance in main wrongname; do
    conf=$RUN/dovecot/$instance/dovecot.conf
    [[ -f $conf ]] || continue
    for ((i = 0; ; i++)); do
      doveadm -c "$conf" auth test -x service=pop3 "$user" "$password" >/dev/null 2>&1 && break
      ((i < 100)) || rig_die "Dovecot ($instance) did not accept the new password of $user within 5 s"
      sleep 0.05 # poll interval of the condition above
    done
  done
fi
echo "added $user"
