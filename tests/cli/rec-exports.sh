# libkoala-recorder.so needs nothing but libc where the service runs (zstd, protobuf-c, PCRE2
# and jansson are linked in, hidden) and exports exactly the functions it wraps.
name=rec-exports
. tests/cli/proc.inc
. tests/cli/preload.inc
echo "# shared libraries it needs (a sanitizer build's runtimes left out)"
readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -e '^libasan' -e '^libubsan' | sort
echo "# functions it exports"
nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "W" { print $3 }' | sort | tr '\n' ' ' | fold -s -w 96
echo
