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

# fail MESSAGE: fails the current scenario (scenarios run in subshells).
fail() {
	log "  FAIL: $*"
	exit 1
}
ok() { log "  ok: $*"; }

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

# proc_alive NAME: whether the process started as NAME still runs.
proc_alive() {
	local i
	for i in "${!PROC_NAMES[@]}"; do
		if [ "${PROC_NAMES[$i]}" = "$1" ]; then
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
	local i pid name grace deadline t0
	for ((i = ${#PROC_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PROC_PIDS[$i]}
		name=${PROC_NAMES[$i]}
		kill -TERM "$pid" 2>/dev/null || continue
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
	done
	PROC_NAMES=()
	PROC_PIDS=()
}

# free_port: sets FREE_PORT to a TCP port on 127.0.0.1 that nothing listens
# on, from a range away from the usual service ports, never the same one
# twice. (Not a command substitution: USED_PORTS must survive the call.)
USED_PORTS=" "
# shellcheck disable=SC2034 # read by the callers
FREE_PORT=""
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
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
# until it succeeds; fails the scenario on timeout.
wait_until() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			fail "timed out after ${timeout}s waiting for $what"
		fi
		sleep 0.5
	done
}

# ---------------------------------------------------------------- kubernetes

k() { "$TOOLS/bin/kubectl" --kubeconfig="$KUBECONFIG_ADMIN" "$@"; }

# kjson ARGS...: kubectl get ARGS -o json.
kjson() { k get "$@" -o json; }

# jfield JQ ARGS...: one field of kubectl get ARGS.
jfield() {
	local q=$1
	shift
	k get "$@" -o json | jq -r "$q"
}

pvc_phase() { jfield .status.phase -n "$1" pvc "$2"; }
pvc_bound() { [ "$(pvc_phase "$1" "$2")" = Bound ]; }
pv_of() { jfield .spec.volumeName -n "$1" pvc "$2"; }
snapshot_ready() { [ "$(jfield '.status.readyToUse // false' -n "$1" volumesnapshot "$2")" = true ]; }

# to_bytes QUANTITY: 1Gi/512Mi/... as bytes.
to_bytes() {
	local q=$1
	case $q in
	*Ki) echo $((${q%Ki} * 1024)) ;;
	*Mi) echo $((${q%Mi} * 1024 * 1024)) ;;
	*Gi) echo $((${q%Gi} * 1024 * 1024 * 1024)) ;;
	*Ti) echo $((${q%Ti} * 1024 * 1024 * 1024 * 1024)) ;;
	*) echo "$q" ;;
	esac
}

# pvc_events NS PVC REASON: the messages of PVC's events with REASON.
pvc_events() {
	k get events -n "$1" --field-selector "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=$2,reason=$3" -o json |
		jq -r '.items[].message'
}

# apply_yaml: kubectl apply of stdin.
apply_yaml() { k apply -f - >/dev/null; }

# pvc_yaml NS NAME SC SIZE [MODE] [ACCESS] [DATASOURCE_KIND DATASOURCE_NAME]
pvc_yaml() {
	local ns=$1 name=$2 sc=$3 size=$4 mode=${5:-Filesystem} access=${6:-ReadWriteOnce} dskind=${7:-} dsname=${8:-}
	cat <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $name
  namespace: $ns
spec:
  storageClassName: $sc
  volumeMode: $mode
  accessModes: [$access]
  resources:
    requests:
      storage: $size
EOF
	case $dskind in
	VolumeSnapshot)
		printf '  dataSource:\n    apiGroup: snapshot.storage.k8s.io\n    kind: VolumeSnapshot\n    name: %s\n' "$dsname"
		;;
	PersistentVolumeClaim)
		printf '  dataSource:\n    kind: PersistentVolumeClaim\n    name: %s\n' "$dsname"
		;;
	esac
}

snapshot_yaml() {
	cat <<EOF
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: $2
  namespace: $1
spec:
  volumeSnapshotClassName: $3
  source:
    persistentVolumeClaimName: $4
EOF
}

# ---------------------------------------------------------------- scenarios

RESULTS=()
FAILED="|"

# scenario NAME FUNCTION [REQUIRED_SCENARIO...]: runs FUNCTION in a subshell
# (a failing assertion ends only this scenario), records PASS/FAIL, and skips
# it when a scenario it depends on did not pass.
scenario() {
	local name=$1 fn=$2 dep rc start
	shift 2
	for dep in "$@"; do
		case $FAILED in *"|$dep|"*)
			log "SKIP $name (needs $dep)"
			RESULTS+=("SKIP $name (needs $dep)")
			FAILED+="$name|"
			return 0
			;;
		esac
	done
	log "== $name"
	start=$SECONDS
	set +e
	(
		set -euo pipefail
		if [ "${E2E_TRACE:-0}" = 1 ]; then
			PS4='+ [$EPOCHREALTIME] '
			set -x
		fi
		"$fn"
	)
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		log "PASS $name ($((SECONDS - start))s)"
		RESULTS+=("PASS $name ($((SECONDS - start))s)")
	else
		log "FAIL $name ($((SECONDS - start))s)"
		RESULTS+=("FAIL $name ($((SECONDS - start))s)")
		FAILED+="$name|"
	fi
}
