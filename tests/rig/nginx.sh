#!/usr/bin/env bash
# nginx (Debian's) as the L7 gRPC proxy in front of MailGrpc server processes, for the fault tests.
#
#   nginx.sh up PORT UPSTREAM...   listens on 127.0.0.1:PORT (HTTP/2 cleartext, h2c) and grpc_passes every call to the
#                                  upstreams (host:port, round robin; a refused connection tries the next one).
#                                  Restarts it when already running with other upstreams. Prints its pid.
#   nginx.sh down PORT             stops that instance by the pid in its pid file.
#
# Installed (apt, package nginx-light) when missing and running as root. Files under $RUN/nginx-PORT.
# Environment: MAILGRPC_RIG_DIR (default /tmp/mailgrpc-rig).
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

NGINX=/usr/sbin/nginx

ensure_nginx() { [[ -x $NGINX ]] || apt_install_missing nginx-light; }

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }

stop_instance() {
  local dir=$1 pid i
  live_pid "$dir/nginx.pid" "nginx: master process $NGINX -p $dir" || return 0
  pid=$LIVE_PID
  stop_pid "$pid" QUIT || true
}

cmd=${1:-}
port=${2:-}
valid_port "$port" || rig_die "usage: nginx.sh up PORT UPSTREAM... | nginx.sh down PORT"
dir=$RUN/nginx-$port
mkdir -p "$dir/logs"
exec 8>>"$dir/.lock"
flock -w 120 8 || rig_die "timed out waiting for $dir/.lock"

case $cmd in
  up)
    shift 2
    (($# > 0)) || rig_die "nginx.sh up needs at least one upstream host:port"
    ensure_nginx
    servers=
    for upstream in "$@"; do
      [[ $upstream =~ ^127\.0\.0\.1:[0-9]+$ ]] || rig_die "upstream must be 127.0.0.1:PORT (got '$upstream')"
      servers+="    server $upstream max_fails=0;"$'\n'
    done
    conf=$(
      cat <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log $dir/logs/access.log;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  upstream mailgrpc {
$servers  }
  server {
    listen 127.0.0.1:$port http2;
    grpc_read_timeout 300s;
    grpc_send_timeout 300s;
    client_max_body_size 0;
    location / {
      grpc_pass grpc://mailgrpc;
      grpc_next_upstream error timeout;
    }
  }
}
EOF
    )
    if [[ -f $dir/nginx.conf && $(<"$dir/nginx.conf") == "$conf" ]] && live_pid "$dir/nginx.pid" "nginx: master process $NGINX -p $dir" && port_open "$port"; then
      echo "$LIVE_PID"
      exit 0
    fi
    stop_instance "$dir"
    printf '%s\n' "$conf" >"$dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" </dev/null 9>&- 8>&- ||
      rig_die "nginx did not start (see $dir/logs/error.log)"
    # The master listens before it daemonizes and writes its pid file: wait for both.
    for ((i = 0; i < 200; i++)); do
      port_open "$port" && live_pid "$dir/nginx.pid" "nginx: master process $NGINX -p $dir" && break
      sleep 0.05
    done
    port_open "$port" || rig_die "nginx does not listen on $port (see $dir/logs/error.log)"
    live_pid "$dir/nginx.pid" "nginx: master process $NGINX -p $dir" || rig_die "nginx pid file missing"
    echo "$LIVE_PID"
    ;;
  down)
    stop_instance "$dir"
    ;;
  *) rig_die "usage: nginx.sh up PORT UPSTREAM... | nginx.sh down PORT" ;;
esac
