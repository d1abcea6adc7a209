#!/bin/sh
# demo.sh - `make demo`: generate sample sessions, then dump, filter, merge and show stats,
# printing each command before its output. Runs from the repository root with $B the build dir.
set -e
B=${B:-build}
case $B in
    /*) PATH="$B/bin:$PATH" ;;
    *) PATH="$(pwd)/$B/bin:$PATH" ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Print a command (quoting arguments with spaces) in bold, then run it.
step() {
    line='$'
    for a in "$@"; do
        case $a in *" "*) line="$line '$a'" ;; *) line="$line $a" ;; esac
    done
    printf '\n\033[1m%s\033[0m\n' "$line" | sed "s|$out|/tmp/demo|g"
    "$@" 2>&1 | sed "s|$out|/tmp/demo|g"
}

echo "koala demo: sample sessions of an HTTP JSON API that calls Redis, MySQL and HTTP backends"
step koala-samplegen "$out"
step ls -l "$out"
step koala-dump -c 5 "$out/mixed.pb"
step koala-dump --count "$out/mixed.pb"
step koala-dump -Y 'outbound.port == 6379 and inbound.request ~ "GET /api/orders"' -c 3 "$out/mixed.pb"
step koala-dump -Y 'session.truncated or storage or function' "$out/mixed.pb"
id=$(koala-dump -Y 'outbound.port == 3306' -c 1 "$out/mixed.pb" | cut -d' ' -f2)
printf '\n\033[1m$ koala-dump -v --session %s /tmp/demo/mixed.pb | head -n 40\033[0m\n' "$id"
koala-dump -v --session "$id" "$out/mixed.pb" | head -n 40
printf '\n\033[1m$ koala-dump --json -c 1 /tmp/demo/redis.pb | head -c 600\033[0m\n'
koala-dump --json -c 1 "$out/redis.pb" | head -c 600
echo
step koala-merge -v -o "$out/all.pb" "$out/http-json.pb" "$out/redis.pb" "$out/mysql.pb"
step koala-dump -c 3 "$out/all.pb"
step koala-dump --stats "$out/all.pb"
step koala-dump -Y 'outbound.port == 6379' -w "$out/redis-only.pb" "$out/mixed.pb"
step koala-dump --count "$out/redis-only.pb"
printf '\n\033[1m$ zstd -dc /tmp/demo/mixed.pb | koala-dump --count -\033[0m\n'
zstd -q -dc "$out/mixed.pb" | koala-dump --count -
printf '\n\033[1m$ koala-dump samples/bad/truncated-mid-frame.pb | tail -n 2\033[0m\n'
koala-dump samples/bad/truncated-mid-frame.pb 2>&1 | tail -n 2 || true
echo
echo "demo done: see README.md for every option"
