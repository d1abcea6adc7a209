# The recorder in Debian's php-fpm behind nginx, where the original koala was used: a master
# process forks the workers, which take the pool's user (nobody) and serve FastCGI on a unix
# socket. hit.php makes a Redis call, appends a line to a log and sends a UDP metric. (PHP runs
# without its ini files, so with no extension: it loads them with RTLD_DEEPBIND, which the
# sanitizers' runtime refuses, and the Redis call is made over a plain stream.)
# First the directory is root's: the worker's koala says why it cannot record, naming its uid,
# and the request is served all the same. Then, the directory writable, workers recycled every
# 2 requests (pm.max_requests) each record into a file of their own, and php-fpm's graceful
# stop (SIGQUIT to the master, which then sends its workers SIGTERM, PHP's handler setting the
# default and raising it) keeps the sessions that lingered. koala-merge puts the files
# together: one session per request, with the bytes nginx and php-fpm exchanged, the Redis
# call, the log line and the datagram, which still went out.
# Needs php-fpm, nginx-light, curl, redis-server.
name=rec-php-fpm
. tests/cli/svc-env.inc
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx not found (apt-get install nginx-light)"
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -n 1)
[ -n "$fpm" ] || fail "php-fpm not found (apt-get install php-fpm)"
. tests/cli/preload.inc
py=/usr/bin/python3

start_statsd "$T" "$T/datagrams"
up=$(port_of "$T/statsd.out")
# the workers, as nobody, read the script and write the log
chmod 755 "$T"
mkdir -m 755 "$T/www" "$T/closed"
mkdir -m 1777 "$T/log" "$T/rec"
cat >"$T/www/hit.php" <<'PHP'
<?php
$u = $_GET['u'] ?? '-';
$r = fsockopen('127.0.0.1', intval($_SERVER['REDIS_PORT']));
fwrite($r, sprintf("*2\r\n$4\r\nINCR\r\n$%d\r\nhits:%s\r\n", strlen("hits:$u"), $u));
$n = intval(substr(fgets($r), 1));
fclose($r);
file_put_contents($_SERVER['LOG'], "hit $u $n\n", FILE_APPEND);
$s = fsockopen('udp://127.0.0.1', intval($_SERVER['STATSD_PORT']));
fwrite($s, "hits.$u:1|c");
fclose($s);
header('Content-Type: application/json');
echo json_encode(['user' => $u, 'hits' => $n]), "\n";
PHP

np=$(free_ports)
start_nginx "$T/ngx" "
    server {
        listen 127.0.0.1:$np;
        root $T/www;
        location ~ \.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_param REDIS_PORT $rp;
            fastcgi_param STATSD_PORT $up;
            fastcgi_param LOG $T/log/app.log;
            fastcgi_pass unix:$T/fpm.sock;
        }
    }"

# php-fpm in the foreground, recording to directory $1, its log in $2.
start_fpm() {
    cat >"$T/fpm.conf" <<EOF
[global]
error_log = $2
daemonize = no
[www]
user = nobody
group = nogroup
listen = $T/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 2
pm.max_requests = 2
catch_workers_output = yes
EOF
    LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$1" \
        "$fpm" --nodaemonize --no-php-ini --fpm-config "$T/fpm.conf" >"$T/fpm.out" 2>&1 &
    fpmpid=$!
    pids="$pids $fpmpid"
    wait_until grep -qs "ready to handle connections" "$2" || fail "php-fpm did not start: $(cat "$2")"
}

hit() {
    timeout 10 curl -s "http://127.0.0.1:$np/hit.php?u=$1" || fail "curl $1 failed"
}

echo "# KOALA_RECORD_TO_DIR owned by root, mode 755"
start_fpm "$T/closed" "$T/fpm1.log"
hit ann
wait_until grep -qs "cannot create" "$T/fpm1.log" || fail "no error logged: $(cat "$T/fpm1.log")"
sed -n 's/.*koala\[[0-9]*\] \(ERROR .*\)"$/\1/p' "$T/fpm1.log" |
    sed -e "s|$T|T|g" -e 's|/php-fpm[0-9.]*-[0-9]*-[0-9]*\.pb|/FILE|' | sort -u
kill -TERM "$fpmpid"
exit_status "$fpmpid"
echo "files: $(ls "$T/closed" | wc -l)"

echo "# KOALA_RECORD_TO_DIR writable"
start_fpm "$T/rec" "$T/fpm2.log"
for u in bob ann cy bob dee ann; do hit $u; done
kill -QUIT "$fpmpid"
exit_status "$fpmpid"
files=$(ls "$T/rec" | wc -l)
echo "files, one per worker, a worker serving 2 requests: $([ "$files" -ge 3 ] && echo "3 or more" || echo "$files")"
grep 'koala\[[0-9]*\] \(WARN\|ERROR\)' "$T/fpm2.log"
koala-merge -o "$T/all.pb" "$T"/rec/*.pb || fail "koala-merge failed"
koala-dump --json "$T/all.pb" >"$T/json" || fail "koala-dump failed"
echo "log:" $(cat "$T/log/app.log")
echo "datagrams:" $(sort "$T/datagrams")
$py - "$T/json" "$T" "$rp" "$up" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import FCGI_NAMES, fcgi_params, fcgi_records, sessions, show_actions, unescape
path, T, rp, up = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

ss = sessions(path)
print("sessions:", len(ss), "in time order:",
      [s["CallFromInbound"]["OccurredAt"] for s in ss] == sorted(s["CallFromInbound"]["OccurredAt"] for s in ss))
for s in ss:
    peer = s["CallFromInbound"]["UnixAddr"]["Name"].replace(T, "T")
    req, rest_q = fcgi_records(unescape(s["CallFromInbound"]["Request"]))
    resp, rest_a = fcgi_records(unescape(s["ReturnInbound"]["Response"]))
    p = fcgi_params(b"".join(d for k, d in req if k == 4))
    body = b"".join(d for k, d in resp if k == 6).split(b"\r\n\r\n", 1)[1]
    print(p["REQUEST_METHOD"], p["REQUEST_URI"], "from", peer, "|",
          "+".join(FCGI_NAMES.get(k, str(k)) for k, _ in req), "(%d loose bytes) ->" % len(rest_q),
          "+".join(FCGI_NAMES.get(k, str(k)) for k, _ in resp), "(%d loose bytes)" % len(rest_a), body)
    show_actions(s, T, {rp: "redis", up: "statsd"})
PY
