# --since/--until select by session time (RFC 3339 or unix seconds), skipping older frames.
koala-dump --count --since 2024-03-01T10:00:02Z samples/mixed.pb
koala-dump --count --since 1709287202 --until 1709287203.5 samples/mixed.pb
koala-dump --count --since 2024-03-01T11:00:02+01:00 --until 2024-03-01T10:00:03.5Z samples/mixed.pb
cat samples/mixed.pb | koala-dump --count --since 1709287202 --until 1709287203.5 -
koala-dump --since 2024-03-01T10:00:04.8Z samples/mixed.pb | cut -d' ' -f1-2
koala-dump --count --since 2030-01-01T00:00:00Z samples/mixed.pb
