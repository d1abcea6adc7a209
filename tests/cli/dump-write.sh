# -w writes the selected sessions; reading them back gives the same sessions. Replayed input
# gives a replayed file; '-' writes to stdout; nothing selected still leaves a valid file.
filter='outbound.port == 3306 and inbound.request ~ "POST"'
koala-dump -Y "$filter" -w "$T/sel.pb" samples/mixed.pb
koala-dump -Y "$filter" samples/mixed.pb > "$T/want"
koala-dump "$T/sel.pb" > "$T/got"
cmp "$T/want" "$T/got" && echo "filtered: $(wc -l < "$T/got") sessions, same after re-reading"
koala-dump --count "$T/sel.pb"
koala-dump -w "$T/all.pb" --level 19 samples/http-json.pb samples/redis.pb
koala-dump --json samples/http-json.pb samples/redis.pb > "$T/want"
koala-dump --json "$T/all.pb" > "$T/got"
cmp "$T/want" "$T/got" && echo "two files into one: same JSON"
koala-dump -w "$T/rep.pb" -c 5 samples/replayed.pb
koala-dump "$T/rep.pb" | cut -d' ' -f1-4
koala-dump -w - --session 1709287200000000000-7106 samples/http-json.pb | koala-dump -
koala-dump -Y 'session.id == "nothing"' -w "$T/none.pb" samples/mixed.pb
koala-dump --count "$T/none.pb"
# an output that is also an input is refused before anything is written: the input stays whole
cp samples/redis.pb "$T/self.pb"
koala-dump -w "$T/self.pb" "$T/self.pb" 2>&1 | sed "s|$T|T|"
cp "$T/self.pb" "$T/self-00001.pb"
koala-dump --split-every 5 -w "$T/self.pb" "$T/self-00001.pb" 2>&1 | sed "s|$T|T|"
cmp samples/redis.pb "$T/self.pb" && cmp samples/redis.pb "$T/self-00001.pb" && echo "inputs whole"
