#!/usr/bin/env bash
# sync-users.sh PREFIX N PASSWORD [MESSAGES]   bulk variant of tests/rig/add-password-user.sh + seed-mail.sh for bench/sync.sh:
# adds users PREFIX-0@bench.test … PREFIX-<N-1>@bench.test with one password (hashed once, so thousands of users take
# seconds, not one doveadm process each) and MESSAGES (default 2) small messages in each Maildir. New users only: Dovecot
# reads a user's passwd-file at the user's first lookup, so no wait is needed.
# sync-users.sh --remove PREFIX                removes them again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../tests/rig/lib.sh
source "$root/tests/rig/lib.sh"

if [[ ${1:-} == --remove ]]; then
  prefix=${2:?usage: $0 --remove PREFIX}
  [[ $prefix =~ ^[a-z0-9-]+$ ]] || rig_die "PREFIX must be a-z 0-9 -"
  find "$PASSWD_DIR" -maxdepth 1 -name "$prefix-*@bench.test" -delete
  find "$MAIL_ROOT" -maxdepth 1 -name "$prefix-*@bench.test" -exec rm -rf {} +
  echo "removed users $prefix-*"
  exit 0
fi

prefix=${1:?usage: $0 PREFIX N PASSWORD [MESSAGES]}
count=${2:?N}
password=${3:?PASSWORD}
messages=${4:-2}
[[ $prefix =~ ^[a-z0-9-]+$ ]] || rig_die "PREFIX must be a-z 0-9 -"
[[ $count =~ ^[0-9]+$ && $messages =~ ^[0-9]+$ ]] || rig_die "N and MESSAGES must be numbers"
[[ -d $PASSWD_DIR && -d $MAIL_ROOT ]] || rig_die "run tests/rig/up.sh first"
entry=$(getent passwd "$MAIL_USER") || rig_die "no system user $MAIL_USER; run tests/rig/up.sh first"
IFS=: read -r _ _ mail_uid mail_gid _ <<<"$entry"

hash=$(doveadm -c "$RUN/dovecot/main/dovecot.conf" pw -s SHA512-CRYPT -p "$password")
stamp=$(date +%s)
# Directories first, many per mkdir (one process per user would dominate the time); files with bash built-ins only.
for ((i = 0; i < count; i++)); do
  for sub in new cur tmp; do printf '%s\0' "$MAIL_ROOT/$prefix-$i@bench.test/Maildir/$sub"; done
done | xargs -0 mkdir -p
for ((i = 0; i < count; i++)); do
  user=$prefix-$i@bench.test
  printf '%s:%s::::::\n' "$user" "$hash" >"$PASSWD_DIR/$user"
  maildir=$MAIL_ROOT/$user/Maildir
  for ((m = 1; m <= messages; m++)); do
    printf 'Message-ID: <bench-%s-%s@bench.test>\r\nSubject: Bench %s\r\nFrom: Bench <bench@bench.test>\r\nTo: %s\r\nDate: Mon, 07 Dec 2026 03:00:00 +0000\r\n\r\nHello.\r\n' \
      "$i" "$m" "$m" "$user" >"$maildir/new/$stamp.M${m}P$i.bench"
  done
done
find "$PASSWD_DIR" -maxdepth 1 -name "$prefix-*@bench.test" -exec chmod 644 {} +
find "$MAIL_ROOT" -maxdepth 1 -name "$prefix-*@bench.test" -exec chown -R "$mail_uid:$mail_gid" {} +
echo "added $count users $prefix-*@bench.test"
