#!/usr/bin/env bash
# sync-dovecot.sh start|stop   a benchmark-only Dovecot instance for bench/sync*.sh, next to the rig's (tests/rig/up.sh
# first). Same users, Maildirs, TLS certificate and auth settings as the rig's main instance (it includes the rendered
# common.conf), but tuned for many short sessions the way a production POP3 server would be; the rig's own instances are
# not changed (tests keep their fast-to-start, one-login-process setup). Why: bench/sync-pop3-probe.py showed that with
# the rig's settings every session forks and execs a fresh pop3 process (≈ 20 ms of CPU each on this machine, more than
# TLS + auth together), so 83 sessions/s (5,000 mailboxes / 60 s) would need ~2 cores for Dovecot alone.
# Prints the pop3s port (BENCH_POP3S_PORT, default 11997) on start.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../tests/rig/lib.sh
source "$root/tests/rig/lib.sh"
port=${BENCH_POP3S_PORT:-11997}
dir=$RUN/dovecot/bench
conf=$dir/dovecot.conf

case ${1:-} in
  start)
    [[ -f $RUN/dovecot/common.conf ]] || rig_die "run tests/rig/up.sh first"
    mkdir -p "$dir/state"
    cat >"$conf" <<CONF
!include $RUN/dovecot/common.conf
instance_name = mailgrpc-bench
base_dir = $dir/base
state_dir = $dir/state
log_path = $LOG_DIR/dovecot-bench.log
ssl_cert = <$RUN/tls/server.crt
ssl_key = <$RUN/tls/server.key
# One login process per core, each serving many connections (TLS handshakes spread over both cores).
service pop3-login {
  inet_listener pop3s {
    address = 127.0.0.1
    port = $port
    ssl = yes
  }
  service_count = 0
  process_min_avail = $(nproc)
}
# Post-login pop3 processes kept ready and reused (all bench users share one uid), instead of a fork + exec per session.
service pop3 {
  service_count = 1000
  process_min_avail = 16
}
# Password checks cached for the bench users (the rig keeps the cache off so a changed password is refused at once).
auth_cache_size = 10M
auth_cache_ttl = 1 hour
CONF
    if [[ -f $dir/base/master.pid ]] && kill -0 "$(cat "$dir/base/master.pid")" 2>/dev/null; then
      doveadm -c "$conf" reload
    else
      rm -rf "$dir/base"
      dovecot -c "$conf" </dev/null >>"$LOG_DIR/dovecot-bench.stderr.log" 2>&1
    fi
    for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    echo "$port"
    ;;
  stop)
    if [[ -f $dir/base/master.pid ]]; then
      pid=$(cat "$dir/base/master.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
