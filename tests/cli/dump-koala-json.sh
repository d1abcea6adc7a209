# An original koala session file (its recorder's JSON, KOALA_RECORD_TO_DIR) is read by every
# mode as a .pb file is; --json --pretty and --koala-dir give it back byte for byte, also after
# a trip through a .pb file.
f=tests/fixtures/koala-json/1548160113499755925-1158745
koala-dump "$f"
koala-dump --count "$f"
koala-dump -Y 'outbound.port == 80 and inbound.request ~ "SCRIPT_FILENAME"' "$f" | cut -d' ' -f2
koala-dump -Y 'outbound.port == 6379' "$f" | wc -l
koala-dump -v "$f" | head -n 12
koala-dump --stats "$f" | head -n 4
koala-dump --json --pretty "$f" > "$T/pretty"
printf '\n' | cat "$f" - | cmp - "$T/pretty" && echo "--json --pretty: the file's bytes"
koala-dump --koala-dir "$T/out" "$f"
ls "$T/out"
cmp "$f" "$T/out/1548160113499755925-1158745" && echo "--koala-dir: the file's bytes"
koala-dump -w "$T/one.pb" "$f"
koala-dump --info "$T/one.pb" | sed -n 2p
koala-dump --koala-dir "$T/back" "$T/one.pb"
cmp "$f" "$T/back/1548160113499755925-1158745" && echo "JSON -> .pb -> JSON: the file's bytes"
koala-dump -w "$T/two.pb" "$T/back/1548160113499755925-1158745"
koala-dump --json --extra "$T/one.pb" > "$T/a"
koala-dump --json --extra "$T/two.pb" > "$T/b"
cmp "$T/a" "$T/b" && echo "JSON -> .pb -> JSON -> .pb: the same sessions"
# through stdin, a pipe or a redirected file, and the same for a .pb file after it was peeked at
cat "$f" | koala-dump --json --pretty - | cmp - "$T/pretty" && echo "a pipe: the file's bytes"
koala-dump --json --pretty - < "$f" | cmp - "$T/pretty" && echo "stdin: the file's bytes"
cat samples/redis.pb | koala-dump --count -
koala-dump --count - < samples/redis.pb
