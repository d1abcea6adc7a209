# A directory of original koala session files, as --koala-dir writes them from a .pb file (one
# per session, named by its SessionId), is read by every mode in time order of the sessions,
# whatever the files' names; other files (README, dot files, directories) are skipped.
koala-dump --koala-dir "$T/d" samples/http-json.pb
echo "$(ls "$T/d" | wc -l) files, named by SessionId: $(ls "$T/d" | head -n 2 | tr '\n' ' ')"
for f in "$T"/d/*; do
    grep -q "^  \"SessionId\": \"$(basename "$f")\",$" "$f" || echo "$f: not its SessionId"
done
tail -c 30 "$T/d/1709287200000000000-7106"; echo
# names that sort against the sessions' order
i=0
for f in $(ls "$T/d" | sort -r); do
    mv "$T/d/$f" "$T/d/s$i"
    i=$((i + 1))
done
echo '# notes' > "$T/d/README.md"
echo '{"SessionId": "hidden"}' > "$T/d/.hidden"
mkdir "$T/d/sub"
cp samples/redis.pb "$T/d/sub/"
koala-dump samples/http-json.pb > "$T/want"
koala-dump "$T/d" > "$T/got"
cmp "$T/want" "$T/got" && echo "summaries: the .pb file's, in its time order"
head -n 3 "$T/got"
koala-dump --count "$T/d"
koala-dump --json samples/http-json.pb > "$T/want"
koala-dump --json "$T/d" > "$T/got"
cmp "$T/want" "$T/got" && echo "--json: the .pb file's"
# the original form has no place for where a session was recorded, nor the outbound local
# address; --extra keeps them
koala-dump -v samples/http-json.pb > "$T/want"
koala-dump -v "$T/d" | diff "$T/want" - | grep -c '^[<>]'
koala-dump --koala-dir "$T/e" --extra samples/http-json.pb
koala-dump -v "$T/e" | cmp "$T/want" - && echo "-v (--koala-dir --extra): the .pb file's"
files='^(Files|File |Frames|Content bytes|Compression)'
koala-dump --stats samples/http-json.pb | grep -Ev "$files" > "$T/want"
koala-dump --stats "$T/d" | grep -Ev "$files" > "$T/got"
cmp "$T/want" "$T/got" && echo "--stats: the .pb file's sessions"
koala-dump -Y 'inbound.request ~ "POST /api/orders"' -c 3 "$T/d" | cut -d' ' -f2
koala-dump --since 2024-03-01T10:00:00.5Z --until 2024-03-01T10:00:00.6Z --count "$T/d"
koala-dump --session 1709287200011548177-7102 "$T/d" | cut -d' ' -f1-2
# koala-merge and koala-replay take directories too
koala-merge -o "$T/merged.pb" "$T/d" samples/redis.pb
koala-dump --count "$T/merged.pb"
koala-merge -o - "$T/d" | koala-dump --json - > "$T/got"
koala-dump --json samples/http-json.pb | cmp - "$T/got" && echo "koala-merge: the .pb file's sessions"
# a recorder's directory of .pb files given whole: each tool says how to name them, and with
# nothing else read, exits 2
mkdir "$T/rec"
cp samples/redis.pb "$T/rec/svc-1-1.pb"
cp samples/mysql.pb "$T/rec/svc-2-1.pb"
koala-dump --count "$T/rec" >"$T/out" 2>"$T/err"
echo "exit $?: $(cat "$T/out") sessions"
sed "s|$T|T|g" "$T/err"
koala-dump --count "$T/rec"/*.pb
koala-merge -o "$T/m.pb" "$T/rec" 2>"$T/err"
echo "koala-merge exit $?"
sed "s|$T|T|g" "$T/err"
