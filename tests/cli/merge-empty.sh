# Inputs without sessions give a valid empty file.
koala-dump -Y 'session.id == "none"' -w "$T/e.pb" samples/mixed.pb
koala-merge -o "$T/m.pb" "$T/e.pb" "$T/e.pb"
koala-dump --count "$T/m.pb"
koala-merge "$T/e.pb" samples/redis.pb | koala-dump --count -
koala-dump "$T/m.pb" | wc -l
