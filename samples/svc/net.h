/* net.h - socket helpers shared by the sample service and its client. */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Numeric hosts only (no name lookup). @return 0 and fills ss and len, or -1. */
int net_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Write all n bytes, with send(MSG_NOSIGNAL) or write() (the service uses both, so both of the
 * recorder's wrappers get exercised). @return 0, or -1 on error or a closed peer. */
int net_write_all(int fd, const char *p, size_t n, bool use_send);

/* Header `name` (case-insensitive) in the HTTP head head[0, n) (start line first, "\r\n\r\n"
 * last): sets *val and *vlen to its value without surrounding blanks. @return whether found. */
bool net_head_value(const char *head, size_t n, const char *name, const char **val, size_t *vlen);

#endif
