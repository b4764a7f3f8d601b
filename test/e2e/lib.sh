# shellcheck shell=bash
# Helpers for test/e2e/run.sh (sourced, never run). Bash only.
#
# Every background process goes through start_proc, which records its PID;
# stop_all stops exactly those PIDs (TERM, then KILL after a grace period).

E2E_T0=${E2E_T0:-$EPOCHREALTIME}

elapsed() { awk -v now="$EPOCHREALTIME" -v t0="$E2E_T0" 'BEGIN { printf "%6.1fs", now - t0 }'; }
log() { printf '[%s] %s\n' "$(elapsed)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}


# ---------------------------------------------------------------- processes

PROC_NAMES=()
PROC_PIDS=()
# Seconds a process gets between SIGTERM and SIGKILL, by name (default 10).
declare -A PROC_GRACE

# start_proc NAME CMD ARGS...: runs CMD in the background with stdout and
# stderr in $WORK/logs/NAME.log and records its PID.
start_proc() {
	local name=$1
	shift
	"$@" >"$WORK/logs/$name.log" 2>&1 </dev/null &
	local pid=$!
	PROC_NAMES+=("$name")
	PROC_PIDS+=("$pid")
	echo "$pid" >"$WORK/pids/$name.pid"
	log "started $name (pid $pid)"
}

# supervise PIDFILE CMD ARGS...: runs CMD and runs it again one second after
# it exits (as the kubelet restarts a container), with the PID of the
# current CMD in PIDFILE; SIGTERM stops CMD and then itself. For start_proc.
supervise() {
	local pidfile=$1 child=""
	shift
	trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
	while :; do
		"$@" &
		child=$!
		echo "$child" >"$pidfile"
		wait "$child" || true
		sleep 1
	done
}

# proc_alive NAME: whether the process started as NAME still runs.
proc_alive() {
	local i
	for i in "${!PROC_NAMES[@]}"; do
		if [ "${PROC_NAMES[$i]}" = "$1" ] && [ -n "${PROC_PIDS[$i]}" ]; then
			kill -0 "${PROC_PIDS[$i]}" 2>/dev/null
			return
		fi
	done
	return 1
}

# stop_all: stops every started process by PID, newest first, one at a
# time (the sidecars and drivers before the API server, the API server
# before etcd): SIGTERM, then SIGKILL after its grace period.
stop_all() {
	local i
	for ((i = ${#PROC_PIDS[@]} - 1; i >= 0; i--)); do stop_index "$i"; done
	PROC_NAMES=()
	PROC_PIDS=()
}

# stop_proc NAME: stops the process started as NAME now (stop_all skips it
# then).
stop_proc() {
	local i
	for i in "${!PROC_NAMES[@]}"; do
		if [ "${PROC_NAMES[$i]}" = "$1" ]; then stop_index "$i"; fi
	done
}

# stop_index I: stops the I-th started process (SIGTERM, then SIGKILL after
# its grace period) and forgets its PID.
stop_index() {
	local pid=${PROC_PIDS[$1]} name=${PROC_NAMES[$1]} grace deadline t0
	[ -n "$pid" ] || return 0
	PROC_PIDS[$1]=""
	kill -TERM "$pid" 2>/dev/null || return 0
	t0=$EPOCHREALTIME
	grace=${PROC_GRACE[$name]:-10}
	deadline=$((SECONDS + grace))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name (pid $pid) still running ${grace}s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$name" \
		'BEGIN { if (b - a > 1) printf "  %s took %.1fs to stop\n", n, b - a }' >&2
}

# free_port: sets FREE_PORT to a TCP port on 127.0.0.1 that nothing listens
# on, from E2E_PORT_MIN..E2E_PORT_MAX (default 20000-39999, away from the
# usual service ports; give concurrent runs disjoint ranges to rule out a
# race between two of them), never the same one twice. (Not a command
# substitution: USED_PORTS must survive the call.)
USED_PORTS=" "
PORT_MIN=${E2E_PORT_MIN:-20000}
PORT_MAX=${E2E_PORT_MAX:-39999}
# shellcheck disable=SC2034 # read by the callers
FREE_PORT=""
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((PORT_MIN + RANDOM % (PORT_MAX - PORT_MIN + 1)))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if ! ss -Htln "sport = :$p" | grep -q .; then
			USED_PORTS+="$p "
			# shellcheck disable=SC2034 # read by the callers
			FREE_PORT=$p
			return 0
		fi
	done
	die "no free port found"
}

# ---------------------------------------------------------------- waiting

# wait_until TIMEOUT_SECONDS DESCRIPTION CMD ARGS...: runs CMD every 0.5 s
# until it succeeds; dies on timeout.
wait_until() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			die "timed out after ${timeout}s waiting for $what"
		fi
		sleep 0.5
	done
}

# ---------------------------------------------------------------- kubernetes

k() { "$TOOLS/bin/kubectl" --kubeconfig="$KUBECONFIG_ADMIN" "$@"; }
