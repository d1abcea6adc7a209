# -Y selects by display filter; it combines with -c, --count and -v.
koala-dump -Y 'outbound.port == 6379' --count samples/mixed.pb
koala-dump --filter 'outbound.port == 6379' --count samples/redis.pb samples/mysql.pb
koala-dump -Y 'inbound.request ~ "GET /api/orders" and not outbound.port == 6379' -c 3 samples/mixed.pb
koala-dump -Y 'session.truncated' samples/mixed.pb
