/* hk_events.c - builder events kept in a byte buffer: a service thread appends what it saw in
 * one copy, and the collector builds the sessions later, off the service's path. */
#include "hk.h"

#include <string.h>

/* One event; after it, in this order, its peer and local addresses when `addrs` says so, its
 * file name with its NUL, its data, and padding to 8 bytes. */
typedef struct record {
    int64_t time;
    uint32_t len;       /* data bytes */
    int32_t fd;
    uint16_t name_len;  /* file name bytes with the NUL; 0: none */
    uint8_t type;
    uint8_t addrs;      /* ADDR_PEER | ADDR_LOCAL */
    uint32_t conn;
} record;

#define ADDR_PEER 1
#define ADDR_LOCAL 2
#define HELD 4          /* the data is not copied: a pointer into a kept file and its reference */

typedef struct held {
    const uint8_t *data;
    hk_file *ref;
} held;

#define PREPARE_BYTES 1024 /* about two events of a small request */
/* Where the calling thread's last hk_events_prepare() stopped. */
static __thread uintptr_t prepared __attribute__((tls_model("initial-exec")));

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The fields ev's type uses, as koala.h lists them per event type. */
static unsigned addrs_of(const kl_event *ev)
{
    switch (ev->type) {
    case KL_EV_INBOUND_RECV:
    case KL_EV_SEND_UDP: return ev->peer ? ADDR_PEER : 0;
    case KL_EV_OUTBOUND_SEND:
    case KL_EV_OUTBOUND_RECV: return (ev->peer ? ADDR_PEER : 0) | (ev->local ? ADDR_LOCAL : 0);
    case KL_EV_INBOUND_SEND:
    case KL_EV_INBOUND_CLOSE:
    case KL_EV_OUTBOUND_CLOSE:
    case KL_EV_APPEND_FILE:
    case KL_EV_READ_STORAGE: return 0;
    }
    return 0;
}

/* Append ev's record with `room` bytes for its data, and all of it but the data, which goes
 * at *data. @return as hk_events_put (b unchanged on error). */
static int put_head(kl_buf *b, const kl_event *ev, size_t room, unsigned flags, uint8_t **data)
{
    if (ev->len > UINT32_MAX)
        return KL_ERR_INVALID;
    unsigned addrs = addrs_of(ev);
    size_t name = ev->type == KL_EV_APPEND_FILE && ev->file_name ? strlen(ev->file_name) + 1 : 0;
    if (name > UINT16_MAX)
        name = 0;
    size_t size = sizeof(record) + (addrs & ADDR_PEER ? sizeof(kl_addr) : 0) +
                  (addrs & ADDR_LOCAL ? sizeof(kl_addr) : 0) + name + room;
    /* the buffer's start is malloc's, 8-aligned; every record keeps the next one aligned */
    if (kl_buf_reserve(b, align8(size)) != KL_OK)
        return KL_ERR_NOMEM;
    uint8_t *p = (uint8_t *)b->data + b->len;
    record r = {.time = ev->time, .len = (uint32_t)ev->len, .fd = ev->fd, .conn = ev->conn,
                .name_len = (uint16_t)name, .type = (uint8_t)ev->type, .addrs = (uint8_t)(addrs | flags)};
    memcpy(p, &r, sizeof r);
    p += sizeof r;
    if (addrs & ADDR_PEER) {
        memcpy(p, ev->peer, sizeof(kl_addr));
        p += sizeof(kl_addr);
    }
    if (addrs & ADDR_LOCAL) {
        memcpy(p, ev->local, sizeof(kl_addr));
        p += sizeof(kl_addr);
    }
    if (name) {
        memcpy(p, ev->file_name, name);
        p += name;
    }
    b->len += align8(size);
    *data = p;
    return KL_OK;
}

int hk_events_put(kl_buf *b, const kl_event *ev, const struct iovec *iov, int cnt)
{
    uint8_t *p;
    int err = put_head(b, ev, ev->len, 0, &p);
    if (err)
        return err;
    for (size_t left = ev->len; left && cnt > 0; iov++, cnt--) {
        size_t n = iov->iov_len < left ? iov->iov_len : left;
        memcpy(p, iov->iov_base, n);
        p += n;
        left -= n;
    }
    return KL_OK;
}

int hk_events_put_held(kl_buf *b, const kl_event *ev, hk_file *ref)
{
    uint8_t *p;
    int err = put_head(b, ev, sizeof(held), HELD, &p);
    if (err)
        return err;
    memcpy(p, &(held){ev->data, ref}, sizeof(held));
    return KL_OK;
}

bool hk_events_next(const kl_buf *b, size_t *off, kl_event *ev, hk_file **ref)
{
    *ref = NULL;
    if (*off >= b->len)
        return false;
    const uint8_t *p = (const uint8_t *)b->data + *off;
    const record *r = (const record *)(const void *)p;
    size_t size = sizeof *r;
    *ev = (kl_event){.type = (kl_event_type)r->type, .time = r->time, .fd = r->fd, .len = r->len,
                     .conn = r->conn};
    if (r->addrs & ADDR_PEER) {
        ev->peer = (const kl_addr *)(const void *)(p + size);
        size += sizeof(kl_addr);
    }
    if (r->addrs & ADDR_LOCAL) {
        ev->local = (const kl_addr *)(const void *)(p + size);
        size += sizeof(kl_addr);
    }
    if (r->name_len) {
        ev->file_name = (const char *)p + size;
        size += r->name_len;
    }
    if (r->addrs & HELD) {
        held h;
        memcpy(&h, p + size, sizeof h);
        ev->data = h.data;
        *ref = h.ref;
        *off += align8(size + sizeof h);
    } else {
        ev->data = p + size;
        *off += align8(size + r->len);
    }
    return true;
}

/* PREFETCHW where the compiler would otherwise emit a read prefetch: every x86-64 processor
 * runs it, those without the feature as a no-op. */
#if defined(__x86_64__)
__attribute__((target("prfchw")))
#endif
void hk_events_prepare(const uint8_t *next, size_t room)
{
    uintptr_t from = (uintptr_t)next, to = from + (room < PREPARE_BYTES ? room : PREPARE_BYTES);
    /* the lines this thread's last call asked for are asked for once, not at every event */
    if (prepared > from && prepared <= to)
        from = prepared;
    prepared = to;
    for (; from < to; from += 64)
        __builtin_prefetch((const void *)from, 1, 3);
}
