#!/bin/sh
# run.sh - CLI tests. Each case is NAME.sh with its expected stdout in NAME.out and, when it
# is not 0, its expected exit status in NAME.code. Cases run from the repository root with
# build/bin first on PATH, $B the build directory (an absolute path) and $T a fresh scratch
# directory.
# Prints "ok NAME" or "not ok NAME" per case, with a diff and the end of its stderr on
# failure. CLI=PATTERN (a shell pattern, such as 'rp-*') runs only the cases whose name matches.
B=${B:-build}
root=$(pwd)
case $B in /*) ;; *) B="$root/$B" ;; esac
PATH="$B/bin:$PATH"
export PATH B
for sh in tests/cli/*.sh; do
    name=$(basename "$sh" .sh)
    [ "$name" = run ] && continue
    case $name in ${CLI:-*}) ;; *) continue ;; esac
    T=$(mktemp -d)
    export T
    actual="$T/.stdout"
    timeout 60 sh "$sh" >"$actual" 2>"$T/.stderr"
    code=$?
    want_code=0
    [ -f "tests/cli/$name.code" ] && want_code=$(cat "tests/cli/$name.code")
    if [ "$code" != "$want_code" ]; then
        echo "not ok $name: exit $code, expected $want_code"
        sed 's/^/    stderr: /' "$T/.stderr" | head -n 20
    elif ! diff -u "tests/cli/$name.out" "$actual" >"$T/.diff" 2>&1; then
        echo "not ok $name: stdout differs"
        sed 's/^/    /' "$T/.diff" | head -n 40
        sed 's/^/    stderr: /' "$T/.stderr" | tail -n 20
    else
        echo "ok $name"
    fi
    rm -rf "$T"
done
