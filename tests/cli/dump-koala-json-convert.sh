# Conversion both ways: --koala-dir writes the original form, -w reads it back into a .pb file
# holding the same sessions (HTTP, Redis, MySQL and FastCGI bytes alike), and writing that
# again gives the same files.
koala-dump --koala-dir "$T/d" --extra samples/mixed.pb
echo "$(ls "$T/d" | wc -l) files"
koala-dump -w "$T/conv.pb" "$T/d"
koala-dump --count "$T/conv.pb"
koala-dump --json --extra samples/mixed.pb > "$T/want"
koala-dump --json --extra "$T/conv.pb" > "$T/got"
cmp "$T/want" "$T/got" && echo "--extra: .pb -> JSON -> .pb gives the same sessions"
koala-dump --koala-dir "$T/d2" --extra "$T/conv.pb"
diff -r "$T/d" "$T/d2" && echo "and JSON -> .pb -> JSON the same files"
# the original form alone: the original's fields survive both ways
koala-dump --koala-dir "$T/o" samples/mixed.pb
koala-dump -w "$T/o.pb" "$T/o"
koala-dump --koala-dir "$T/o2" "$T/o.pb"
diff -r "$T/o" "$T/o2" && echo "original form: JSON -> .pb -> JSON gives the same files"
koala-dump --json samples/mixed.pb > "$T/want"
koala-dump --json "$T/o.pb" | cmp - "$T/want" && echo "--json: the same sessions"
# refusals: replayed sessions, a session id met again, --pretty or --json with --koala-dir
for args in "samples/replayed.pb" "-Y session.id==\"1709287200000000000-7102\" samples/redis.pb samples/redis.pb" \
    "--pretty samples/redis.pb" "--json samples/redis.pb"; do
    koala-dump --koala-dir "$T/r" $args >"$T/out" 2>"$T/err"
    echo "exit $? stdout $(wc -c < "$T/out") $(head -n 1 "$T/err" | sed "s|$T|T|g")"
done
ls "$T/r"
