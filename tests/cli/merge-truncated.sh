# A damaged input keeps every session before the damage, is named in a warning, the merge
# goes on with the others, and the exit status is 2. An input garbled inside a frame (50 bytes
# flipped) gives the sessions of the frames before it, none of that frame's, and, its index
# leading past the damage, those of the frames after it: the merged file reads whole. koala-dump
# reads it the same way.
koala-merge -o "$T/m.pb" samples/http-json.pb samples/bad/truncated-mid-frame.pb \
    samples/redis.pb 2>&1
echo "exit $?"
koala-dump --count "$T/m.pb"
koala-merge -o "$T/m2.pb" samples/bad/wrong-magic.pb samples/bad/truncated-mid-record.pb missing.pb \
    samples/mysql.pb 2>&1
status=$?
koala-dump --count "$T/m2.pb"
python3 -c '
import sys
d = bytearray(open("samples/mixed.pb", "rb").read())
for i in range(200000, 200050):
    d[i] ^= 0x5a
open(sys.argv[1], "wb").write(d)' "$T/garbled.pb"
koala-merge -o "$T/m3.pb" samples/redis.pb "$T/garbled.pb" 2>&1 | sed "s|$T|T|"
koala-dump --count "$T/m3.pb"
koala-dump "$T/m3.pb" | wc -l
koala-dump "$T/garbled.pb" 2>&1 >"$T/d" | sed "s|$T|T|"
wc -l <"$T/d"
exit $status
