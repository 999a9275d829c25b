#!/usr/bin/env bash
# Starts the MailGrpc test rig on 127.0.0.1: Redis, the OAuth2/OIDC server (tests/rig/oauth) and
# Dovecot POP3 (plain+STLS, implicit TLS, and implicit TLS with a wrong-name certificate).
#
# Idempotent and safe to run concurrently: everything happens under an flock in the run dir; when
# the rig already runs it only prints its environment. Components that died are restarted alone.
# Prints the rig's environment (KEY=VALUE, also in $RUN/rig.env and $RUN/rig.json) on stdout;
# progress goes to stderr.
#
# Environment: MAILGRPC_RIG_DIR (default /tmp/mailgrpc-rig), MAILGRPC_RIG_REDIS_PORT (16379),
# MAILGRPC_RIG_OAUTH_PORT (18443), MAILGRPC_RIG_POP3_PORT (11110), MAILGRPC_RIG_POP3S_PORT (11995),
# MAILGRPC_RIG_POP3S_WRONGNAME_PORT (11996), MAILGRPC_RIG_MAIL_USER (mailgrpc-vmail).
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

APT_PACKAGES=(redis-server dovecot-core dovecot-pop3d openssl)
# The strict OIDC provider's consent pages are driven by a real browser (tests/rig/oidc/browser.js).
APT_PACKAGES+=(chromium)
# Everything that, when changed, needs the whole rig restarted.
SIGNATURE="ports=$REDIS_PORT,$OAUTH_PORT,$POP3_PORT,$POP3S_PORT,$POP3S_WRONGNAME_PORT,$OIDC_PORT,$POP3_STRICT_PORT user=$MAIL_USER home=$RIG_HOME"

# --- run dir and lock ------------------------------------------------------------------------

check_searchable_parents() {
  # Dovecot reads mail as the mail user, which must be able to traverse every parent folder.
  local dir=$RUN parents=() mode name
  while [[ $dir == /*/* ]]; do
    dir=${dir%/*}
    parents+=("$dir")
  done
  ((${#parents[@]} > 0)) || return 0
  while read -r mode name; do
    ((8#$mode & 1)) || rig_die "$name is not world-searchable (mode $mode); choose another MAILGRPC_RIG_DIR or chmod o+x it"
  done < <(stat -c '%a %n' "${parents[@]}")
}

if [[ ! -d $RUN ]]; then
  mkdir -p "$RUN"
  chmod 755 "$RUN"
fi
exec 9>>"$LOCK_FILE"
flock -w 300 9 || rig_die "timed out waiting for $LOCK_FILE"

# Sets STALE to the running components whose sources changed after they started (a checkout
# moved on), so they get restarted with the new configuration or code.
find_stale() {
  local f
  STALE=()
  for f in "$RIG_HOME"/dovecot/*.in; do
    if [[ (-f $DOVECOT_MAIN_PID && $f -nt $DOVECOT_MAIN_PID) || (-f $DOVECOT_WRONGNAME_PID && $f -nt $DOVECOT_WRONGNAME_PID) ]]; then
      STALE+=(dovecot-main dovecot-wrongname)
      break
    fi
  done
  for f in "$RIG_HOME"/oauth/server.js "$RIG_HOME"/oauth/clients.json "$RIG_HOME"/oauth/package-lock.json; do
    if [[ -f $OAUTH_PID && $f -nt $OAUTH_PID ]]; then
      STALE+=(oauth)
      break
    fi
  done
  # Strict OIDC provider and its Dovecot.
  for f in "$RIG_HOME"/oidc/server.js "$RIG_HOME"/oidc/package-lock.json; do
    if [[ -f $OIDC_PID && $f -nt $OIDC_PID ]]; then
      STALE+=(oidc)
      break
    fi
  done
  for f in "$RIG_HOME"/dovecot/strict.conf.in "$RIG_HOME"/dovecot/oauth2-strict.conf.ext.in; do
    if [[ -f $DOVECOT_STRICT_PID && $f -nt $DOVECOT_STRICT_PID ]]; then
      STALE+=(dovecot-strict)
      break
    fi
  done
}

# The fast path (rig already up) is what most calls take: it avoids forking anything but flock.
all_healthy() {
  local c sig=
  [[ -s $RUN/rig.env && -s $RUN/rig.json && -f $RUN/rig.sig ]] || return 1
  read -r sig <"$RUN/rig.sig" || true
  [[ $sig == "$SIGNATURE" ]] || return 1
  for c in "${COMPONENTS[@]}"; do component_healthy "$c" || return 1; done
  find_stale
  ((${#STALE[@]} == 0))
}

print_env() {
  local line
  while IFS= read -r line; do printf '%s\n' "$line"; done <"$RUN/rig.env"
}

if all_healthy; then
  print_env
  exit 0
fi

# The slow path forks as little as it can too: on a loaded 2-core VM every fork costs 30-100 ms.
START_TIME=$EPOCHREALTIME
check_searchable_parents

# --- prerequisites (a fresh Debian 12 box) ---------------------------------------------------

ensure_packages() { apt_install_missing "${APT_PACKAGES[@]}"; }

ensure_node() {
  command -v node >/dev/null || rig_die "node (>= 20) is required for the OAuth server"
  local dir=${1:-$RIG_HOME/oauth}
  if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    # Checked only when installing: starting node just to ask its version costs half a second.
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
      rig_die "node >= 20 is required (found $(node --version))"
    command -v npm >/dev/null || rig_die "npm is required to install the OAuth server's packages"
    # Serialize with rigs in other run dirs that share this checkout (fd 8 only holds the lock).
    # shellcheck disable=SC2094
    (
      flock -w 300 8 || rig_die "timed out waiting for npm lock"
      if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        rig_log "npm ci in $dir"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
      fi
    ) 8<"$dir"
  fi
}

ensure_mail_user() {
  local entry
  if ! entry=$(getent passwd "$MAIL_USER"); then
    ((EUID == 0)) || rig_die "user $MAIL_USER is missing; create it as root"
    rig_log "creating system user $MAIL_USER"
    useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$MAIL_USER"
    entry=$(getent passwd "$MAIL_USER")
  fi
  IFS=: read -r _ _ MAIL_UID MAIL_GID _ <<<"$entry"
}

ensure_packages
ensure_node
ensure_node "$RIG_HOME/oidc"
ensure_mail_user

# --- files: folders, certificates, secrets, passwd file --------------------------------------

mkdir -p "$LOG_DIR" "$TLS_DIR" "$MAIL_ROOT" "$RUN/redis" "$RUN/oauth" \
  "$RUN/dovecot/main/state" "$RUN/dovecot/wrongname/state" "$RUN/oidc" "$RUN/dovecot/strict/state"
# The CA is read by Dovecot's unprivileged auth process; private keys stay root-only (0600).
chmod 755 "$LOG_DIR" "$MAIL_ROOT" "$TLS_DIR"
chmod 700 "$RUN/oauth" "$RUN/oidc"
chown "$MAIL_UID:$MAIL_GID" "$MAIL_ROOT"

CERTS_CHANGED=
make_leaf() {
  # make_leaf NAME SUBJECT_CN SAN
  local name=$1 cn=$2 san=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLS_DIR/$name.key" -subj "/O=MailGrpc test rig/CN=$cn" -out "$TLS_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 397 -out "$TLS_DIR/$name.crt" 2>/dev/null \
    -extfile <(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=$san" \
      "subjectKeyIdentifier=hash" \
      "authorityKeyIdentifier=keyid,issuer")
  rm -f "$TLS_DIR/$name.csr"
  CERTS_CHANGED=1
}

ensure_certs() {
  # Generated at run time, never committed. Reused while valid so restarts stay fast and clients
  # that already loaded the CA keep trusting the rig. RUN/tls/renew-after (written when the leaves
  # are made, 30 days before they expire) spares three openssl runs on every start.
  local now renew_after=0
  printf -v now '%(%s)T' -1
  [[ -s $TLS_DIR/renew-after ]] && read -r renew_after <"$TLS_DIR/renew-after"
  if [[ $renew_after =~ ^[0-9]+$ ]] && ((now < renew_after)) &&
    [[ -s $TLS_DIR/ca.key && -s $TLS_DIR/ca.crt && -s $TLS_DIR/server.key && -s $TLS_DIR/server.crt && -s $TLS_DIR/wrongname.key && -s $TLS_DIR/wrongname.crt ]]; then
    return 0
  fi
  umask 077
  if [[ ! -s $TLS_DIR/ca.key || ! -s $TLS_DIR/ca.crt ]] || ! openssl x509 -checkend 86400 -noout -in "$TLS_DIR/ca.crt" >/dev/null 2>&1; then
    rig_log "generating the rig CA"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" -days 3650 \
      -subj "/O=MailGrpc test rig/CN=MailGrpc test rig CA $(date -u +%Y%m%dT%H%M%SZ)" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" 2>/dev/null
    rm -f "$TLS_DIR/server.crt" "$TLS_DIR/wrongname.crt"
  fi
  local leaf
  for leaf in server wrongname; do
    if [[ ! -s $TLS_DIR/$leaf.crt || ! -s $TLS_DIR/$leaf.key ]] || ! openssl x509 -checkend 86400 -noout -in "$TLS_DIR/$leaf.crt" >/dev/null 2>&1; then
      rig_log "generating the $leaf certificate"
      case $leaf in
        server) make_leaf server 127.0.0.1 "IP:127.0.0.1,DNS:localhost" ;;
        wrongname) make_leaf wrongname wrong.example "DNS:wrong.example" ;;
      esac
    fi
  done
  chmod 644 "$TLS_DIR"/*.crt
  chmod 600 "$TLS_DIR"/*.key
  umask 022
  # Leaves live 397 days, the CA 10 years; check again in 367 days at the latest.
  echo $((now + 367 * 86400)) >"$TLS_DIR/renew-after"
}

ensure_secrets() {
  # OAuth client secrets: random per run dir, stable across restarts, read by server.js via env.
  local file=$RUN/oauth/secrets.env
  if [[ ! -s $file ]]; then
    umask 077
    {
      echo "OAUTH_CLIENT_SECRET=$(openssl rand -hex 24)"
      echo "OAUTH_APP_CLIENT_SECRET=$(openssl rand -hex 24)"
    } >"$file"
    umask 022
  fi
  # shellcheck disable=SC1090
  source "$file"
  # clients.json has exactly one app_email (the mailgrpc-app client's).
  OAUTH_APP_EMAIL=$(sed -n 's/.*"app_email": *"\([^"]*\)".*/\1/p' "$RIG_HOME/oauth/clients.json")
  [[ -n $OAUTH_APP_EMAIL ]] || rig_die "no app_email in $RIG_HOME/oauth/clients.json"
}

ensure_passwd_dir() {
  mkdir -p "$PASSWD_DIR"
  chmod 755 "$PASSWD_DIR"
}

ensure_oidc_secrets() {
  # The strict provider's introspection client (used by Dovecot): random per run dir, stable.
  local file=$RUN/oidc/secrets.env
  if [[ ! -s $file ]]; then
    umask 077
    echo "OIDC_DOVECOT_SECRET=$(openssl rand -hex 24)" >"$file"
    umask 022
  fi
  # shellcheck disable=SC1090
  source "$file"
}

ensure_certs
ensure_secrets
ensure_oidc_secrets
ensure_passwd_dir

# --- configuration ---------------------------------------------------------------------------

OAUTH_ISSUER=https://127.0.0.1:$OAUTH_PORT
OIDC_ISSUER=https://127.0.0.1:$OIDC_PORT

render() {
  # render TEMPLATE OUTPUT: fills the @NAME@ placeholders, in bash (no fork).
  local text=''
  IFS= read -r -d '' text <"$1" || true
  text=${text//@MAIL_ROOT@/$MAIL_ROOT}
  text=${text//@PASSWD_DIR@/$PASSWD_DIR}
  text=${text//@RUN@/$RUN}
  text=${text//@MAIL_UID@/$MAIL_UID}
  text=${text//@MAIL_GID@/$MAIL_GID}
  text=${text//@POP3_PORT@/$POP3_PORT}
  text=${text//@POP3S_PORT@/$POP3S_PORT}
  text=${text//@POP3S_WRONGNAME_PORT@/$POP3S_WRONGNAME_PORT}
  text=${text//@OAUTH_ISSUER@/$OAUTH_ISSUER}
  text=${text//@OIDC_PORT@/$OIDC_PORT}
  text=${text//@OIDC_DOVECOT_SECRET@/$OIDC_DOVECOT_SECRET}
  text=${text//@POP3_STRICT_PORT@/$POP3_STRICT_PORT}
  [[ $text != *@[A-Z_]*@* ]] || rig_die "unfilled placeholder in $1"
  printf '%s' "$text" >"$2"
}
render "$RIG_HOME/dovecot/common.conf.in" "$RUN/dovecot/common.conf"
render "$RIG_HOME/dovecot/oauth2.conf.ext.in" "$RUN/dovecot/oauth2.conf.ext"
render "$RIG_HOME/dovecot/main.conf.in" "$RUN/dovecot/main/dovecot.conf"
render "$RIG_HOME/dovecot/wrongname.conf.in" "$RUN/dovecot/wrongname/dovecot.conf"
render "$RIG_HOME/dovecot/strict.conf.in" "$RUN/dovecot/strict/dovecot.conf"
# Holds the introspection client's secret: readable by root only (Dovecot's auth runs as root).
umask 077
render "$RIG_HOME/dovecot/oauth2-strict.conf.ext.in" "$RUN/dovecot/oauth2-strict.conf.ext"
umask 022

# --- (re)start what is not healthy -----------------------------------------------------------

old_sig=
[[ -f $RUN/rig.sig ]] && read -r old_sig <"$RUN/rig.sig"
if [[ $old_sig != "$SIGNATURE" ]]; then
  # Ports or paths changed: nothing running from the old settings may stay.
  components_stop "${COMPONENTS[@]}"
fi
rm -f "$RUN/rig.sig"

# Every start closes fd 9: a daemon that inherited the lock would hold the rig's flock forever.

# shellcheck disable=SC2094 # redis-server writes its log itself; our redirect only catches early errors
start_redis() {
  rm -f "$REDIS_PID"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$RUN/redis" \
    --pidfile "$REDIS_PID" --logfile "$LOG_DIR/redis.log" --save '' --appendonly no \
    </dev/null >>"$LOG_DIR/redis.log" 2>&1 9>&-
}

start_oauth() {
  rm -f "$OAUTH_PID"
  # setsid: the server must outlive the shell (and test runner) that started the rig; all three
  # standard streams are redirected so no caller's pipe stays open.
  RIG_OAUTH_PORT=$OAUTH_PORT RIG_OAUTH_ISSUER=$OAUTH_ISSUER \
    RIG_TLS_CERT=$TLS_DIR/server.crt RIG_TLS_KEY=$TLS_DIR/server.key \
    RIG_PID_FILE=$OAUTH_PID RIG_CLIENTS_FILE=$RIG_HOME/oauth/clients.json \
    RIG_SIGNING_KEY_FILE=$RUN/oauth/signing-key.jwk.json \
    OAUTH_CLIENT_SECRET=$OAUTH_CLIENT_SECRET OAUTH_APP_CLIENT_SECRET=$OAUTH_APP_CLIENT_SECRET \
    setsid -f node "$RIG_HOME/oauth/server.js" "$RUN" </dev/null >>"$LOG_DIR/oauth.log" 2>&1 9>&-
}

start_oidc() {
  rm -f "$OIDC_PID"
  RIG_OIDC_PORT=$OIDC_PORT RIG_OIDC_ISSUER=$OIDC_ISSUER \
    RIG_TLS_CERT=$TLS_DIR/server.crt RIG_TLS_KEY=$TLS_DIR/server.key \
    RIG_PID_FILE=$OIDC_PID RIG_OIDC_STATE_FILE=$RUN/oidc/state.json \
    RIG_OIDC_DOVECOT_SECRET=$OIDC_DOVECOT_SECRET \
    setsid -f node "$RIG_HOME/oidc/server.js" "$RUN" </dev/null >>"$LOG_DIR/oidc.log" 2>&1 9>&-
}

start_dovecot() {
  local instance=$1
  # A stale base_dir (sockets of a dead master) costs Dovecot a 5 s stall at start.
  rm -rf "$RUN/dovecot/$instance/base"
  # The master keeps fd 2 open for life: send it to a file, never to the caller's pipe.
  dovecot -c "$RUN/dovecot/$instance/dovecot.conf" </dev/null >>"$LOG_DIR/dovecot-$instance.stderr.log" 2>&1 9>&-
}

# Certificates changed: TLS servers must reload them. Changed sources: restart what uses them.
[[ -n $CERTS_CHANGED ]] && components_stop oauth dovecot-main dovecot-wrongname oidc dovecot-strict
find_stale
if ((${#STALE[@]} > 0)); then
  rig_log "restarting ${STALE[*]}: their sources changed since they started"
  components_stop "${STALE[@]}"
fi

# Dovecot introspects tokens against the OAuth server, so it starts after node has been launched;
# it does not need node to be listening yet (introspection happens only at login).
pids=()
for c in "${COMPONENTS[@]}"; do
  component_healthy "$c" && continue
  component_stop "$c" # a live process whose ports don't answer is stuck: replace it
  rig_log "starting $c"
  case $c in
    redis) start_redis & ;;
    oauth) start_oauth & ;;
    dovecot-main) start_dovecot main & ;;
    dovecot-wrongname) start_dovecot wrongname & ;;
    oidc) start_oidc & ;;
    dovecot-strict) start_dovecot strict & ;;
  esac
  pids+=("$!:$c")
done
for entry in "${pids[@]}"; do
  wait "${entry%%:*}" || rig_die "${entry#*:} failed to start; see $LOG_DIR"
done

show_logs() {
  local f
  for f in "$LOG_DIR"/*.log; do
    [[ -s $f ]] || continue
    echo "--- tail $f" >&2
    tail -n 15 "$f" >&2
  done
}

deadline=$((SECONDS + 30))
for c in "${COMPONENTS[@]}"; do
  until component_healthy "$c"; do
    if ((SECONDS >= deadline)); then
      show_logs
      rig_die "$c did not come up within 30 s"
    fi
    sleep 0.05
  done
done

# --- environment -----------------------------------------------------------------------------

ENV_KEYS=(MAILGRPC_RIG_DIR REDIS REDIS_HOST REDIS_PORT
  OAUTH_ISSUER OAUTH_PORT OAUTH_DISCOVERY OAUTH_ADMIN
  OAUTH_CLIENT_ID OAUTH_CLIENT_SECRET OAUTH_PUBLIC_CLIENT_ID OAUTH_APP_CLIENT_ID OAUTH_APP_CLIENT_SECRET OAUTH_APP_EMAIL
  OAUTH_REDIRECT_URI CA_FILE
  POP3_HOST POP3_PORT POP3S_PORT POP3S_WRONGNAME_PORT POP3S_WRONGNAME_CERT_NAME
  MAIL_ROOT MAIL_USER MAIL_UID MAIL_GID PASSWD_DIR LOG_DIR
  OIDC_ISSUER OIDC_PORT OIDC_DISCOVERY OIDC_REGISTRATION OIDC_ADMIN POP3_STRICT_PORT OIDC_BROWSER CHROMIUM)
declare -A ENV=(
  [MAILGRPC_RIG_DIR]=$RUN
  [REDIS]=127.0.0.1:$REDIS_PORT
  [REDIS_HOST]=127.0.0.1
  [REDIS_PORT]=$REDIS_PORT
  [OAUTH_ISSUER]=$OAUTH_ISSUER
  [OAUTH_PORT]=$OAUTH_PORT
  [OAUTH_DISCOVERY]=$OAUTH_ISSUER/.well-known/openid-configuration
  [OAUTH_ADMIN]=$OAUTH_ISSUER/__rig
  [OAUTH_CLIENT_ID]=mailgrpc-test
  [OAUTH_CLIENT_SECRET]=$OAUTH_CLIENT_SECRET
  [OAUTH_PUBLIC_CLIENT_ID]=mailgrpc-public
  [OAUTH_APP_CLIENT_ID]=mailgrpc-app
  [OAUTH_APP_CLIENT_SECRET]=$OAUTH_APP_CLIENT_SECRET
  [OAUTH_APP_EMAIL]=$OAUTH_APP_EMAIL
  [OAUTH_REDIRECT_URI]=http://127.0.0.1/callback
  [CA_FILE]=$TLS_DIR/ca.crt
  [POP3_HOST]=127.0.0.1
  [POP3_PORT]=$POP3_PORT
  [POP3S_PORT]=$POP3S_PORT
  [POP3S_WRONGNAME_PORT]=$POP3S_WRONGNAME_PORT
  [POP3S_WRONGNAME_CERT_NAME]=wrong.example
  [MAIL_ROOT]=$MAIL_ROOT
  [MAIL_USER]=$MAIL_USER
  [MAIL_UID]=$MAIL_UID
  [MAIL_GID]=$MAIL_GID
  [PASSWD_DIR]=$PASSWD_DIR
  [LOG_DIR]=$LOG_DIR
  [OIDC_ISSUER]=$OIDC_ISSUER
  [OIDC_PORT]=$OIDC_PORT
  [OIDC_DISCOVERY]=$OIDC_ISSUER/.well-known/openid-configuration
  [OIDC_REGISTRATION]=$OIDC_ISSUER/reg
  [OIDC_ADMIN]=$OIDC_ISSUER/__rig
  [POP3_STRICT_PORT]=$POP3_STRICT_PORT
  [OIDC_BROWSER]=$RIG_HOME/oidc/browser.js
  [CHROMIUM]=/usr/bin/chromium
)

{
  echo "# MailGrpc test rig (tests/rig/up.sh) — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for k in "${ENV_KEYS[@]}"; do echo "$k=${ENV[$k]}"; done
} >"$RUN/rig.env.tmp"
{
  echo "{"
  n=${#ENV_KEYS[@]}
  for i in "${!ENV_KEYS[@]}"; do
    k=${ENV_KEYS[$i]}
    v=${ENV[$k]}
    sep=,
    ((i == n - 1)) && sep=
    if [[ $v =~ ^[0-9]+$ ]]; then echo "  \"$k\": $v$sep"; else echo "  \"$k\": \"$v\"$sep"; fi
  done
  echo "}"
} >"$RUN/rig.json.tmp"
chmod 644 "$RUN/rig.env.tmp" "$RUN/rig.json.tmp"
mv "$RUN/rig.env.tmp" "$RUN/rig.env"
mv "$RUN/rig.json.tmp" "$RUN/rig.json"
echo "$SIGNATURE" >"$RUN/rig.sig"

elapsed_us=$((${EPOCHREALTIME/./} - ${START_TIME/./}))
rig_log "up in $((elapsed_us / 1000)) ms (logs: $LOG_DIR)"
print_env
