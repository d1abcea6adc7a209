#!/bin/sh
# run.sh - runs every $B/bench/bench_* program (make bench sets $B) and every bench/bench_*.sh
# script (given B), and prints their figure lines, then one closing line "bench: N figures,
# N pass, N fail". Large inputs are generated once into $TMPDIR (default /tmp) and reused. A
# figure that misses its target is reported, not an error (timings vary with the machine);
# exit status 1 when a benchmark cannot run.
B=${B:-build}
export B
out=$(mktemp)
status=0
for b in "$B"/bench/bench_* "$(dirname "$0")"/bench_*.sh; do
    case $b in
        *.sh) [ -f "$b" ] && set -- sh "$b" ;;
        *) [ -x "$b" ] && set -- "$b" ;;
    esac || continue
    if ! "$@" >"$out"; then
        echo "$(basename "$b"): failed to run"
        status=1
    fi
    cat "$out"
    cat "$out" >>"$out.all"
done
pass=$(grep -c ' PASS$' "$out.all" 2>/dev/null)
fail=$(grep -c ' FAIL$' "$out.all" 2>/dev/null)
echo "bench: $((${pass:-0} + ${fail:-0})) figures, ${pass:-0} pass, ${fail:-0} fail"
rm -f "$out" "$out.all"
exit $status
