# libkoala-recorder.so needs nothing but libc where the service runs (zstd, protobuf-c, PCRE2
# and jansson are linked in, hidden) and exports exactly the functions it wraps.
case $B in
    /*) so="$B/lib/libkoala-recorder.so" ;;
    *) so="$(pwd)/$B/lib/libkoala-recorder.so" ;;
esac
[ -f "$so" ] || { echo "rec-exports: $so not built" >&2; exit 2; }
echo "# shared libraries it needs (a sanitizer build's runtimes left out)"
readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -e '^libasan' -e '^libubsan' | sort
echo "# functions it exports"
nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "W" { print $3 }' | sort | tr '\n' ' ' | fold -s -w 96
echo
