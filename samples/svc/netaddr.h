/* netaddr.h - "HOST:PORT" and "[V6]:PORT" to a socket address, for the sample programs. */
#ifndef NETADDR_H
#define NETADDR_H

#include <sys/socket.h>

/* Numeric hosts only (no name lookup). @return 0 and fills ss and len, or -1. */
int netaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len);

#endif
