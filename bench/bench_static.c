/* bench_static.c - the recorder's cost on a static file server's request, without the
 * network's noise: one thread makes the calls nginx makes to serve a 1 KiB file (recv, open,
 * fstat, writev, sendfile, a write to its O_APPEND access log, close) on a loopback connection
 * it accepted, and plays the client on the other end with raw system calls, which the hook
 * never sees. Under the recorder each request is a recorded session.
 *
 * wrk against nginx (bench_recorder.sh, rec-nginx) moves by 5% between runs, and by 20% when
 * the machine changes speed; this loop, by about 2%, so it shows what a change to the
 * recorder's path does to that figure. Run with no arguments, it runs itself as
 * "bench_static --loop" in alternated child processes, half of them under the recorder, as
 * bench_hook does, and compares the best rates in requests per second of the process's CPU
 * time (the recorder's threads included). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "bench.h"

#define FILE_BYTES 1024
#define LOOP_SECONDS 0.15     /* one timed run inside a child */
#define LOOP_RUNS 3           /* timed runs per child, after a warm-up one; best of */
#define ROUNDS 5              /* children per half, alternated */

static const char request[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: "
                              "bench_static\r\nAccept: */*\r\n\r\n";

/* The file served, in the keep directory. */
static void served_path(char *path, size_t cap)
{
    snprintf(path, cap, "%s/koala-bench-static.html", bench_keep_dir());
}

/* Make the file served once and keep it, as a server's files are, so that its timestamps are
 * old (the recorder keeps in memory only files unchanged for 2 s). */
static void served_file(void)
{
    char path[4096];
    served_path(path, sizeof path);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == FILE_BYTES && time(NULL) - st.st_ctime > 2)
        return;
    char tmp[4200], body[FILE_BYTES];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    memset(body, 'k', sizeof body);
    FILE *f = fopen(tmp, "w");
    if (!f || fwrite(body, 1, sizeof body, f) != sizeof body || fclose(f) != 0 || rename(tmp, path) != 0)
        bench_die("%s: %s", path, strerror(errno));
    sleep(3);
}

/* The client's and the server's ends of one loopback connection; the client's made with raw
 * system calls. The server's sends go out at once (nginx's tcp_nodelay), or its two writes
 * per answer would wait for the client's delayed acknowledgement. */
static void connection(int *client, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        bench_die("listen: %s", strerror(errno));
    *client = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (*client < 0 || syscall(SYS_connect, *client, (struct sockaddr *)&a, sizeof a) != 0 ||
        (*server = accept(l, NULL, NULL)) < 0)
        bench_die("connect: %s", strerror(errno));
    int on = 1;
    if (setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
        bench_die("TCP_NODELAY: %s", strerror(errno));
    close(l);
}

/* One request: the client asks, the server answers as nginx does, the client reads it all. */
static void serve_one(int client, int server, const char *path, int log, const char *header,
                      size_t header_len)
{
    static char in[4096], out[4096];
    if (syscall(SYS_sendto, client, request, sizeof request - 1, 0, NULL, 0) != (long)sizeof request - 1 ||
        recv(server, in, sizeof in, 0) != (ssize_t)sizeof request - 1)
        bench_die("request: %s", strerror(errno));
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        bench_die("%s: %s", path, strerror(errno));
    struct iovec iov = {(void *)header, header_len};
    off_t off = 0;
    if (writev(server, &iov, 1) != (ssize_t)header_len ||
        sendfile(server, fd, &off, (size_t)st.st_size) != st.st_size)
        bench_die("response: %s", strerror(errno));
    static const char line[] = "127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /index.html "
                               "HTTP/1.1\" 200 1024 \"-\" \"bench_static\"\n";
    if (write(log, line, sizeof line - 1) != (ssize_t)sizeof line - 1)
        bench_die("access log: %s", strerror(errno));
    close(fd);
    size_t want = header_len + FILE_BYTES;
    for (size_t got = 0; got < want;) {
        long n = syscall(SYS_recvfrom, client, out, sizeof out, 0, NULL, NULL);
        if (n <= 0)
            bench_die("response: %s", n ? strerror(errno) : "connection closed");
        got += (size_t)n;
    }
}

/* The child: requests per second of process CPU time, best of LOOP_RUNS, and of the serving
 * thread's CPU time in that run. */
static int loop(void)
{
    char path[4096], log_path[4096], header[256];
    served_path(path, sizeof path);
    snprintf(log_path, sizeof log_path, "%s/koala-bench-static.%ld.log", bench_scratch_dir(), (long)getpid());
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0)
        bench_die("%s: %s", log_path, strerror(errno));
    int header_len = snprintf(header, sizeof header,
                              "HTTP/1.1 200 OK\r\nServer: bench_static\r\nContent-Type: text/html\r\n"
                              "Content-Length: %d\r\nConnection: keep-alive\r\n\r\n", FILE_BYTES);
    int client, server;
    connection(&client, &server);
    double best = 0, best_thread = 0;
    for (int run = 0; run <= LOOP_RUNS; run++) {
        uint64_t done = 0;
        double t0 = bench_cpu_now(CLOCK_PROCESS_CPUTIME_ID), th0 = bench_cpu_now(CLOCK_THREAD_CPUTIME_ID), t;
        do {
            for (int i = 0; i < 256; i++)
                serve_one(client, server, path, log, header, (size_t)header_len);
            done += 256;
            if (syscall(SYS_ftruncate, log, 0L) != 0)
                bench_die("%s: %s", log_path, strerror(errno));
        } while ((t = bench_cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0) < LOOP_SECONDS);
        double th = bench_cpu_now(CLOCK_THREAD_CPUTIME_ID) - th0;
        if (run > 0 && done / t > best) {
            best = done / t;
            best_thread = done / th;
        }
    }
    unlink(log_path);
    bench_loop_print(best, best_thread);
    return 0;
}

int main(int argc, char **argv)
{
    bench_name = "bench_static";
    if (argc == 2 && strcmp(argv[1], "--loop") == 0)
        return loop();
    char self[4096], so[4200], rec_dir[4096];
    served_file();
    bench_recorder_setup(self, so, rec_dir);
    double best_plain = 0, best_hooked = 0, thread_plain = 0, thread_hooked = 0;
    for (int i = 0; i < ROUNDS; i++)
        for (int k = 0; k < 2; k++) { /* which half goes first alternates */
            bool hooked = (i + k) % 2 == 1;
            double rate, thread;
            bench_loop_child(self, so, rec_dir, hooked, 2, &rate, &thread);
            double *best = hooked ? &best_hooked : &best_plain;
            if (rate > *best) {
                *best = rate;
                *(hooked ? &thread_hooked : &thread_plain) = thread;
            }
        }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rec_dir);
    if (system(cmd) != 0)
        bench_die("%s: cannot remove", rec_dir);
    double ratio = best_hooked / best_plain;
    printf("rec-static: %.1f us of CPU per request under the recorder vs %.1f us without = %.3f "
           "(one thread serving a %d-byte file as nginx does: recv, open, fstat, writev, sendfile, "
           "an access log line, close; process CPU time, best of %d alternated runs; the serving "
           "thread's alone %.1f vs %.1f us) (target >= 0.90) %s\n", 1e6 / best_hooked,
           1e6 / best_plain, ratio, FILE_BYTES, ROUNDS, 1e6 / thread_hooked, 1e6 / thread_plain,
           bench_pass(ratio >= 0.90));
    return 0;
}
