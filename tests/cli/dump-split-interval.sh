# --split-interval D starts a new file every D of session time from the first session.
koala-dump -w "$T/sec.pb" --split-interval 1s samples/mixed.pb
cd "$T" && for f in sec-*.pb; do
    echo "$f $(koala-dump --count "$f") $(koala-dump "$f" | head -n 1 | cut -d' ' -f1)"
done
koala-dump -w "$T/ms.pb" --split-interval 1500ms -Y 'outbound.port == 6379' "$OLDPWD/samples/mixed.pb"
ls ms-*
koala-dump -w "$T/h.pb" --split-interval 1h "$OLDPWD/samples/mixed.pb" && ls h-*
