#!/usr/bin/env bash
# failed-output.sh LOG...: prints, for each test that failed in the `go test
# -v` logs given, the last lines it logged (its t.Log/t.Error lines, from
# whatever file they were logged). make test-go calls it at the end of a
# failed run, so that the reason of a failure is in the last screen of the
# CI log, where a truncated log keeps it.
# In a -v log a test's output follows a "=== RUN/CONT/NAME <test>" line
# naming it (parallel tests interleave, and go test names the test again
# whenever the output switches to another).
set -euo pipefail
LINES=${FAILED_OUTPUT_LINES:-40}
for log in "$@"; do
	[ -f "$log" ] || continue
	awk -v lines="$LINES" -v file="$log" '
		/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
		/^[ \t]*--- FAIL: / {
			name = $3
			if (!(name in failed)) { failed[name] = 1; order[++n] = name }
			next
		}
		/^[ \t]*--- (PASS|SKIP): / { next }
		cur != "" && /^[ \t]+/ {
			c = ++count[cur]
			out[cur, c] = $0
			if (c > lines) delete out[cur, c - lines]
		}
		END {
			for (i = 1; i <= n; i++) {
				name = order[i]
				c = count[name] + 0
				if (c == 0) continue
				from = c > lines ? c - lines + 1 : 1
				printf "== %s failed (%s), its last %d lines:\n", name, file, c - from + 1
				for (j = from; j <= c; j++) print out[name, j]
			}
		}' "$log"
done
