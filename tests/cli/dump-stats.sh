# --stats: capinfos-like text, or one JSON object; over several files; with a filter. The
# compressed sizes depend on the zstd version, so they are left out here.
koala-dump --stats samples/mixed.pb | grep -v -e '^File bytes' -e '^Compression ratio'
koala-dump --stats --json samples/http-json.pb samples/redis.pb | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["sessions"], o["first_time_text"], o["last_time_text"], o["files"], o["actions"])'
koala-dump --stats --json -Y 'outbound.port == 6379' samples/mixed.pb | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["sessions"], o["actions_total"])'
koala-dump --stats --json samples/replayed.pb | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["sessions"], o["replayed_sessions"])'
