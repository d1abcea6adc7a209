/* testutil.h - helpers shared by the Check suites: sample sessions, temp files, runner. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <sys/resource.h>

#include "koala.h"

/* An owning session numbered i (time 1700000000s + i ms), with an HTTP inbound request and
 * response, a Redis call, a MySQL call, an appended log line and a UDP metric. */
kl_session *tu_session(int i);
/* A fresh directory under $TMPDIR, removed with everything in it at exit. */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name in a static buffer rotated over 8 slots. */
const char *tu_path(const char *name);
/* Whole file into a malloc'd buffer; *len set. NULL on failure. */
unsigned char *tu_read_file(const char *path, size_t *len);
int tu_write_file(const char *path, const void *data, size_t len);
/* Let the process map only `room` bytes more than it has now (RLIMIT_AS), to make an
 * allocation fail; *old gets the limit to set back with setrlimit(RLIMIT_AS, old). */
void tu_limit_memory(size_t room, struct rlimit *old);
/* A session recorded by the original koala (Go), from didi/rdebug's example. */
#define TU_FIXTURE "tests/fixtures/koala-json/1548160113499755925-1158745"
/* The original koala's byte escaping, undone after JSON unescaping: every \xHH becomes the
 * byte 0xHH. Writes at most n bytes to out. @return the number written. */
size_t tu_unescape_x(const char *s, size_t n, uint8_t *out);
/* A FastCGI record of request id 1 (type, content of len bytes, 3 bytes of padding)
 * appended to b. */
void tu_fcgi_record(kl_buf *b, int type, const void *content, size_t len);
/* A name-value pair of FCGI_PARAMS content appended to b (a 4-byte value length past 127). */
void tu_fcgi_param(kl_buf *b, const char *name, const char *value);
/* A whole FastCGI request appended to b, as a web server sends it: BEGIN_REQUEST, params
 * (FCGI_PARAMS content), the empty PARAMS and STDIN that end them. */
void tu_fcgi_request(kl_buf *b, const kl_buf *params);
/* Run the suite, print Check's summary, return the process exit status. */
int tu_run(Suite *s);

#endif
