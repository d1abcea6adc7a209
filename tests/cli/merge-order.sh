# Sessions come out in time order, ties by id, then by argument order.
koala-merge -o "$T/m.pb" samples/mysql.pb samples/http-json.pb samples/redis.pb
koala-dump --count "$T/m.pb"
koala-dump "$T/m.pb" | cut -d' ' -f1 | sort -c && echo "in time order"
koala-dump "$T/m.pb" | head -n 4 | cut -d' ' -f1-2,5
koala-merge samples/redis.pb samples/mysql.pb samples/http-json.pb | koala-dump - | head -n 2 |
    cut -d' ' -f1-2,5
koala-dump -w "$T/p.pb" --split-every 250 samples/mixed.pb
koala-merge -o "$T/back.pb" "$T"/p-00003.pb "$T"/p-00001.pb "$T"/p-00000.pb "$T"/p-00002.pb
koala-dump "$T/back.pb" > "$T/back.txt"
koala-dump samples/mixed.pb | cmp - "$T/back.txt" && echo "split parts merge back into the original"
