#!/usr/bin/env bash
# The on-premises recipe of docs/cluster.md, on one machine: a head node (127.0.0.1, no CPUs) and a
# worker node (127.0.0.2) started with `ray start`, token authentication on, then one ecosim command
# against them with --address. Every Ray process it started is stopped at the end (only those: it
# never runs `ray stop`, which stops every Ray process of this user on the machine).
#
#   deploy/two_nodes_one_machine.sh ecosim run experiments/quickstart.toml --out /tmp/run-2n
#   deploy/two_nodes_one_machine.sh ecosim resume /tmp/run-2n          # a new cluster: resume joins it
#
# Environment: WORKER_CPUS (CPUs of the worker node, default 2); RAY_AUTH_TOKEN (default: a new
# token for this cluster; on separate machines it is ~/.ray/auth_token, copied to every node);
# PYTHON (default python).
# Driven end to end by tests/engine/test_cluster.py (run, then resume on a new cluster; marked slow).
set -euo pipefail
if [ $# -eq 0 ]; then awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2; exit 2; fi

work=$(mktemp -d /tmp/ecosim-2n-XXXXXX)    # short: Ray's socket paths must stay under 108 characters
py=${PYTHON:-python}
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
export RAY_AUTH_MODE=token                 # every Ray process of the cluster, and the driver
export RAY_AUTH_TOKEN=${RAY_AUTH_TOKEN:-$("$py" -c 'import secrets; print(secrets.token_hex(32))')}
unset RAY_ADDRESS

sessions=()
stop_nodes() {
    for s in "${sessions[@]}"; do kill -TERM -- "-$s" 2>/dev/null || true; done
    for _ in $(seq 100); do
        alive=0
        for s in "${sessions[@]}"; do kill -0 -- "-$s" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for s in "${sessions[@]}"; do kill -KILL -- "-$s" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop_nodes EXIT

start_node() {  # NAME IP RAY-START-OPTIONS...: `ray start --block` in a session of its own
    local name=$1 ip=$2 pid
    shift 2
    setsid ray start --block --node-ip-address="$ip" --temp-dir="$work/$name" --disable-usage-stats \
        --dashboard-agent-listen-port="$(free_port)" "$@" >"$work/$name.log" 2>&1 &
    pid=$!
    disown "$pid"                          # stopped by stop_nodes, quietly
    sessions+=("$pid")
    for _ in $(seq 1200); do
        grep -q "Ray runtime started" "$work/$name.log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "ray start of the $name node failed:" >&2
    tail -n 30 "$work/$name.log" >&2
    return 1
}

start_node head 127.0.0.1 --head --port="$port" --num-cpus=0 --include-dashboard=false \
    --ray-client-server-port="$(free_port)"
start_node worker 127.0.0.2 --address="127.0.0.1:$port" --num-cpus="${WORKER_CPUS:-2}"
echo "Ray cluster: head 127.0.0.1:$port (0 CPUs), worker 127.0.0.2 (${WORKER_CPUS:-2} CPUs), folder $work"
"$@" --address "127.0.0.1:$port"
