#!/bin/sh
# run.sh - runs every Check suite given as argument, then the CLI tests, and prints one
# closing line "N passed, N failed". Exit status 1 when anything failed.
B=${B:-build}
passed=0
failed=0
out=$(mktemp)
for t in "$@"; do
    # CK_DEFAULT_TIMEOUT bounds each test; sanitizer builds run slower.
    if [ "$SANITIZE" = 1 ]; then export CK_TIMEOUT_MULTIPLIER=4; fi
    "$t" >"$out" 2>&1
    status=$?
    cat "$out"
    line=$(grep -E '^[0-9]+%: Checks: ' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
        e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
        passed=$((passed + n - f - e))
        failed=$((failed + f + e))
    elif [ $status -ne 0 ]; then
        echo "$t: crashed (exit $status)"
        failed=$((failed + 1))
    fi
done
if [ -x tests/cli/run.sh ] || [ -f tests/cli/run.sh ]; then
    B=$B sh tests/cli/run.sh >"$out" 2>&1
    cat "$out"
    p=$(grep -cE '^ok ' "$out")
    f=$(grep -cE '^not ok ' "$out")
    passed=$((passed + p))
    failed=$((failed + f))
fi
rm -f "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
