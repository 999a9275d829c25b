#!/usr/bin/env bash
# A 6-node Redis Cluster (3 masters + 3 replicas) on 127.0.0.1, for the fault tests.
#
#   cluster.sh up     start the nodes that are not running (all of them the first time, then create the
#                     cluster); a node a test killed rejoins with its nodes.conf. Waits until the cluster
#                     reports cluster_state:ok and every slot has a master that answers. Prints
#                     MAILGRPC_RIG_CLUSTER=127.0.0.1:p1,... on stdout (also in $RUN/cluster/cluster.env).
#   cluster.sh down   stops the nodes by the pids in their pid files.
#   cluster.sh reset  down, then forget the cluster (data and nodes.conf), so the next up creates it anew.
#
# cluster-node-timeout is 1 s so a failover completes in a few seconds (a production cluster keeps the default 15 s).
# The rig's nodes are NOT persistent (no RDB, no AOF): a test cluster is disposable. Documented deployments turn on
# AOF (docs/deployment.md).
#
# Environment: MAILGRPC_RIG_DIR (default /tmp/mailgrpc-rig), MAILGRPC_RIG_CLUSTER_PORT (first port, default 17001;
# the nodes use it and the next five).
set -euo pipefail

# shellcheck source=lib.sh
case ${BASH_SOURCE[0]} in */*) source "${BASH_SOURCE[0]%/*}/lib.sh" ;; *) source ./lib.sh ;; esac

BASE_PORT=${MAILGRPC_RIG_CLUSTER_PORT:-17001}
[[ $BASE_PORT =~ ^[0-9]+$ ]] && ((BASE_PORT > 0 && BASE_PORT < 65530)) || rig_die "invalid MAILGRPC_RIG_CLUSTER_PORT '$BASE_PORT'"
CLUSTER_DIR=$RUN/cluster
PORTS=()
for ((i = 0; i < 6; i++)); do PORTS+=($((BASE_PORT + i))); done

node_pidfile() { printf '%s/%s/redis.pid' "$CLUSTER_DIR" "$1"; }
node_pattern() { printf 'redis-server 127.0.0.1:%s [cluster]' "$1"; }

node_alive() { live_pid "$(node_pidfile "$1")" "$(node_pattern "$1")" && port_open "$1"; }

start_node() {
  local port=$1 dir=$CLUSTER_DIR/$1
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
    --pidfile "$(node_pidfile "$port")" --logfile "$dir/redis.log" \
    --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
    --cluster-announce-ip 127.0.0.1 --cluster-replica-validity-factor 0 \
    --cluster-require-full-coverage yes </dev/null >>"$dir/redis.log" 2>&1 8>&- 9>&-
}

stop_node() {
  local port=$1 pidfile pid i
  pidfile=$(node_pidfile "$port")
  live_pid "$pidfile" "$(node_pattern "$port")" || return 0
  pid=$LIVE_PID
  stop_pid "$pid" TERM || true
}

wait_ports() {
  local port i
  for port in "${PORTS[@]}"; do
    for ((i = 0; i < 200; i++)); do
      port_open "$port" && continue 2
      sleep 0.05
    done
    rig_die "cluster node $port did not open its port (see $CLUSTER_DIR/$port/redis.log)"
  done
}

cluster_ok() {
  local port info
  for port in "${PORTS[@]}"; do
    info=$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null) || return 1
    [[ $info == *cluster_state:ok* ]] || return 1
  done
  # Every master a client would be sent to answers a keyed command.
  redis-cli -c -h 127.0.0.1 -p "${PORTS[0]}" --cluster check "127.0.0.1:${PORTS[0]}" >/dev/null 2>&1
}

print_env() {
  local list
  list=$(printf '127.0.0.1:%s,' "${PORTS[@]}")
  printf 'MAILGRPC_RIG_CLUSTER=%s\n' "${list%,}" | tee "$CLUSTER_DIR/cluster.env"
}

cmd=${1:-up}
mkdir -p "$CLUSTER_DIR"
exec 8>>"$CLUSTER_DIR/.lock"
flock -w 300 8 || rig_die "timed out waiting for $CLUSTER_DIR/.lock"

case $cmd in
  up)
    command -v redis-server >/dev/null || rig_die "redis-server is missing (tests/rig/up.sh installs it)"
    for port in "${PORTS[@]}"; do
      node_alive "$port" || start_node "$port"
    done
    wait_ports
    if [[ ! -f $CLUSTER_DIR/created ]]; then
      rig_log "creating the cluster on ports ${PORTS[*]}"
      addrs=()
      for port in "${PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
      redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 ||
        rig_die "redis-cli --cluster create failed (see $CLUSTER_DIR/create.log)"
      : >"$CLUSTER_DIR/created"
    fi
    for ((i = 0; i < 600; i++)); do
      cluster_ok && break
      sleep 0.1
    done
    cluster_ok || rig_die "the cluster did not reach cluster_state:ok"
    print_env
    ;;
  down)
    for port in "${PORTS[@]}"; do stop_node "$port" & done
    wait
    rig_log "cluster down"
    ;;
  reset)
    for port in "${PORTS[@]}"; do stop_node "$port" & done
    wait
    for port in "${PORTS[@]}"; do rm -rf "${CLUSTER_DIR:?}/$port"; done
    rm -f "$CLUSTER_DIR/created" "$CLUSTER_DIR/cluster.env"
    rig_log "cluster reset"
    ;;
  *) rig_die "usage: cluster.sh up|down|reset" ;;
esac
