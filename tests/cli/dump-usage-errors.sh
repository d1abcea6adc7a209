# Each usage error names what is wrong on stderr, prints nothing on stdout and exits 2.
for args in "--bogus" "-x" "-c" "-c 0 samples/mixed.pb" "-c many samples/mixed.pb" \
    "--split-every 10 samples/mixed.pb" "-w - --split-every 2 samples/mixed.pb" \
    "--split-interval 5parsecs -w $T/o.pb samples/mixed.pb" "--count --stats samples/mixed.pb" \
    "--json -v samples/mixed.pb" "--pretty samples/mixed.pb" "--extra samples/mixed.pb" \
    "--since yesterday samples/mixed.pb" \
    "--level 30 -w $T/o.pb samples/mixed.pb" "-Y 'port ==' samples/mixed.pb" ""; do
    eval "koala-dump $args" >"$T/out" 2>"$T/err"
    echo "exit $? stdout $(wc -c < "$T/out") $(head -n 1 "$T/err")"
done
