#!/usr/bin/env bash
# seed-mail.sh USER N [SIZE]
# Delivers N plain-text messages of SIZE bytes each (default 2048; at least the header's size) into USER's Maildir on
# the rig, as a delivery agent would (written in tmp/, renamed into new/, owned by the mail user), so POP3 sees them at
# the next STAT. Messages use CRLF line ends: POP3 serves and sizes them byte for byte. Subjects are "Rig message 1" …
# "Rig message N" (numbered after what the mailbox already holds). Prints one line: "seeded N message(s) for USER".
# The C# tests use RigEnvironment.SeedMessages, which writes the same layout.
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

(($# == 2 || $# == 3)) || { echo "usage: $0 USER N [SIZE]" >&2; exit 2; }
user=${1,,} # Dovecot looks users up lower-cased (username_format=%Lu)
count=$2
size=${3:-2048}
[[ $user =~ ^[^/[:space:]]+$ && $user != .* ]] || rig_die "USER must not contain '/' or white space, nor start with '.'"
[[ $count =~ ^[0-9]+$ ]] && ((count <= 100000)) || rig_die "N must be a number of messages (0-100000)"
[[ $size =~ ^[0-9]+$ ]] && ((size <= 16 * 1024 * 1024)) || rig_die "SIZE must be a number of bytes (at most 16 MiB)"
[[ -d $MAIL_ROOT ]] || rig_die "$MAIL_ROOT does not exist; run tests/rig/up.sh first"
entry=$(getent passwd "$MAIL_USER") || rig_die "no system user $MAIL_USER; run tests/rig/up.sh first"
IFS=: read -r _ _ mail_uid mail_gid _ <<<"$entry"

maildir=$MAIL_ROOT/$user/Maildir
mkdir -p "$maildir/new" "$maildir/cur" "$maildir/tmp"
existing=$(find "$maildir/new" "$maildir/cur" -maxdepth 1 -type f | wc -l)

# Body: 78 letters + CRLF per line; one chunk of 1000 lines, repeated and cut to the size (bash only, no pipes).
line=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz$'\r\n'
chunk=
for ((l = 0; l < 1000; l++)); do chunk+=$line; done

for ((i = 1; i <= count; i++)); do
  n=$((existing + i))
  printf -v header 'Message-ID: <rig-seed-%s-%s@rig.test>\r\nSubject: Rig message %d\r\nFrom: Rig <sender@rig.test>\r\nTo: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n' \
    "$n" "$RANDOM$RANDOM$RANDOM" "$n" "$user" "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S +0000')"
  want=$((size - ${#header}))
  body=
  while ((${#body} < want)); do body+=$chunk; done
  body=${body:0:$((want > 0 ? want : 0))}
  [[ $body == *$'\r' ]] && body=${body%$'\r'}z # never end on a lone CR
  name="$(date +%s).M${EPOCHREALTIME#*.}P$$Q$i.rig"
  tmp=$maildir/tmp/$name
  printf '%s%s' "$header" "$body" >"$tmp"
  bytes=$(stat -c %s "$tmp")
  mv "$tmp" "$maildir/new/$name,S=$bytes,W=$bytes"
done

chown -R "$mail_uid:$mail_gid" "$MAIL_ROOT/$user"
echo "seeded $count message(s) for $user"
