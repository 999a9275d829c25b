# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared by up.sh, down.sh and add-password-user.sh (sourced, never executed).
# Paths, ports and the pid/port checks that decide what "running" means.

# Physical path of tests/rig, found without forking (see the note on health checks below); it is
# part of how processes are recognised, so every caller must compute the same string.
_rig_src=${BASH_SOURCE[0]}
[[ $_rig_src == */* ]] && _rig_src=${_rig_src%/*} || _rig_src=.
_rig_cwd=$PWD
cd -P "$_rig_src" || exit 1
RIG_HOME=$PWD
cd "$_rig_cwd" || exit 1
unset _rig_src _rig_cwd
RUN=${MAILGRPC_RIG_DIR:-/tmp/mailgrpc-rig}
REDIS_PORT=${MAILGRPC_RIG_REDIS_PORT:-16379}
OAUTH_PORT=${MAILGRPC_RIG_OAUTH_PORT:-18443}
POP3_PORT=${MAILGRPC_RIG_POP3_PORT:-11110}
POP3S_PORT=${MAILGRPC_RIG_POP3S_PORT:-11995}
POP3S_WRONGNAME_PORT=${MAILGRPC_RIG_POP3S_WRONGNAME_PORT:-11996}
MAIL_USER=${MAILGRPC_RIG_MAIL_USER:-mailgrpc-vmail}
# Strict OIDC provider (tests/rig/oidc) and the Dovecot instance that introspects its tokens.
OIDC_PORT=${MAILGRPC_RIG_OIDC_PORT:-18444}
POP3_STRICT_PORT=${MAILGRPC_RIG_POP3_STRICT_PORT:-11112}

# Values end up unquoted in rig.env and inside Dovecot's config: keep them boring.
[[ $RUN =~ ^/[A-Za-z0-9._/-]+$ ]] || { echo "rig: MAILGRPC_RIG_DIR must be an absolute path of [A-Za-z0-9._/-] (got '$RUN')" >&2; exit 1; }
RUN=${RUN%/}
for _port in "$REDIS_PORT" "$OAUTH_PORT" "$POP3_PORT" "$POP3S_PORT" "$POP3S_WRONGNAME_PORT" "$OIDC_PORT" "$POP3_STRICT_PORT"; do
  if ! [[ $_port =~ ^[0-9]+$ ]] || ((_port < 1 || _port > 65535)); then
    echo "rig: invalid port '$_port'" >&2
    exit 1
  fi
done
unset _port

LOCK_FILE=$RUN/.lock
LOG_DIR=$RUN/logs
TLS_DIR=$RUN/tls
MAIL_ROOT=$RUN/mail
# App-password users: one passwd-file per user (see add-password-user.sh for why).
PASSWD_DIR=$RUN/passwd.d
REDIS_PID=$RUN/redis/redis.pid
OAUTH_PID=$RUN/oauth/oauth.pid
DOVECOT_MAIN_PID=$RUN/dovecot/main/base/master.pid
DOVECOT_WRONGNAME_PID=$RUN/dovecot/wrongname/base/master.pid
OIDC_PID=$RUN/oidc/oidc.pid
DOVECOT_STRICT_PID=$RUN/dovecot/strict/base/master.pid

rig_log() { printf 'rig: %s\n' "$*" >&2; }
rig_die() { printf 'rig: error: %s\n' "$*" >&2; exit 1; }

# The health checks run on every up.sh call (the fast path), so they avoid forking: a fork costs
# tens of milliseconds on a small VM.

# A TCP connect to 127.0.0.1 (bash's /dev/tcp: no curl or nc needed on a bare box).
port_open() { : 2>/dev/null <>"/dev/tcp/127.0.0.1/$1"; }

# Sets LIVE_PID to the pid in pid file $1 if that process is alive and its command line contains
# $2, so a pid reused by an unrelated process (after a reboot, say) is never mistaken for ours.
live_pid() {
  local file=$1 pattern=$2 pid='' args=()
  LIVE_PID=
  [[ -s $file ]] || return 1
  read -r pid <"$file" || true
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  mapfile -d '' args <"/proc/$pid/cmdline" 2>/dev/null || return 1
  [[ "${args[*]}" == *"$pattern"* ]] || return 1
  LIVE_PID=$pid
}

# Sets SPEC_PIDFILE, SPEC_PATTERN (command-line fragment identifying the process of this run
# dir) and SPEC_PORTS for a component.
component_spec() {
  case $1 in
    redis) SPEC_PIDFILE=$REDIS_PID SPEC_PATTERN="redis-server 127.0.0.1:$REDIS_PORT" SPEC_PORTS="$REDIS_PORT" ;;
    oauth) SPEC_PIDFILE=$OAUTH_PID SPEC_PATTERN="$RIG_HOME/oauth/server.js $RUN" SPEC_PORTS="$OAUTH_PORT" ;;
    dovecot-main) SPEC_PIDFILE=$DOVECOT_MAIN_PID SPEC_PATTERN="dovecot -c $RUN/dovecot/main/dovecot.conf" SPEC_PORTS="$POP3_PORT $POP3S_PORT" ;;
    dovecot-wrongname) SPEC_PIDFILE=$DOVECOT_WRONGNAME_PID SPEC_PATTERN="dovecot -c $RUN/dovecot/wrongname/dovecot.conf" SPEC_PORTS="$POP3S_WRONGNAME_PORT" ;;
    oidc) SPEC_PIDFILE=$OIDC_PID SPEC_PATTERN="$RIG_HOME/oidc/server.js $RUN" SPEC_PORTS="$OIDC_PORT" ;;
    dovecot-strict) SPEC_PIDFILE=$DOVECOT_STRICT_PID SPEC_PATTERN="dovecot -c $RUN/dovecot/strict/dovecot.conf" SPEC_PORTS="$POP3_STRICT_PORT" ;;
    *) return 1 ;;
  esac
}
COMPONENTS=(redis oauth dovecot-main dovecot-wrongname oidc dovecot-strict)

# Alive and every port answering.
component_healthy() {
  local port
  component_spec "$1"
  live_pid "$SPEC_PIDFILE" "$SPEC_PATTERN" || return 1
  for port in $SPEC_PORTS; do port_open "$port" || return 1; done
}

# Sends SIGNAL to PID and waits for it to exit; after 10 s it is killed (SIGKILL) and waited for, and the call
# returns 1. The rig's processes are children of nobody here, so waiting means polling /proc.
stop_pid() {
  local pid=$1 signal=$2 i
  kill -"$signal" "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    [[ -d /proc/$pid ]] || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  while [[ -d /proc/$pid ]]; do sleep 0.05; done
  return 1
}

# Installs those of the given Debian packages that are missing, without letting the packages' own services start
# (Redis on 6379, Dovecot on 110/995, nginx on 80, all interfaces): the rig runs its own instances on loopback only.
apt_install_missing() {
  local missing=() pkg status
  declare -A installed=()
  while read -r pkg status; do
    [[ $status == installed ]] && installed[$pkg]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
  for pkg in "$@"; do
    [[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || rig_die "missing packages ${missing[*]}; install them as root (apt-get install ${missing[*]})"
  rig_log "installing ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
  [[ -n $created_policy ]] && rm -f "$policy"
  return 0
}

# Stops one component by the pid in its pid file (TERM, then KILL after 10 s) and waits until its
# ports are closed. Does nothing when it is not running.
component_stop() {
  local name=$1 ports port pid i
  component_spec "$name"
  ports=$SPEC_PORTS
  if live_pid "$SPEC_PIDFILE" "$SPEC_PATTERN"; then
    pid=$LIVE_PID
    rig_log "stopping $name (pid $pid)"
    stop_pid "$pid" TERM || rig_log "$name (pid $pid) ignored TERM; killed it"
  fi
  for port in $ports; do
    for ((i = 0; i < 200; i++)); do
      port_open "$port" || continue 2
      sleep 0.05
    done
    rig_log "warning: port $port is still answering after stopping $name (another process owns it?)"
  done
}

# Stops several components at once (a Dovecot master takes about two seconds to wind down).
components_stop() {
  local c pids=() p
  for c in "$@"; do
    component_stop "$c" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
