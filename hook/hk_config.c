/* hk_config.c - KOALA_* variables: read once, checked, defaults for anything bad. */
#include "hk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void warn(hk_config *c, const char *name, const char *value, const char *why, const char *dflt)
{
    if (c->n_warnings < HK_MAX_WARNINGS)
        snprintf(c->warnings[c->n_warnings++], sizeof c->warnings[0], "%s=%.80s %s; using %s", name,
                 value, why, dflt);
}

/* A string setting; a value too long for its buffer is refused whole, never cut. */
static void get_path(hk_config *c, const char *value, const char *name, char *dst, size_t cap,
                     const char *dflt)
{
    snprintf(dst, cap, "%s", dflt);
    if (!value)
        return;
    if (strlen(value) >= cap)
        warn(c, name, value, "is too long", *dflt ? dflt : "nothing");
    else
        memcpy(dst, value, strlen(value) + 1);
}

static void get_protocol(hk_config *c, const char *value)
{
    c->inbound_protocol = HK_INBOUND_AUTO;
    if (!value || !*value || strcasecmp(value, "auto") == 0)
        return;
    if (strcasecmp(value, "http") == 0)
        c->inbound_protocol = HK_INBOUND_HTTP;
    else if (strcasecmp(value, "fastcgi") == 0)
        c->inbound_protocol = HK_INBOUND_FASTCGI;
    else
        warn(c, "KOALA_INBOUND_PROTOCOL", value, "is not auto, http or fastcgi", "auto");
}

static void get_level(hk_config *c, const char *value)
{
    c->log_level = HK_INFO;
    if (!value || !*value)
        return;
    for (int l = HK_TRACE; l <= HK_FATAL; l++)
        if (strcasecmp(value, hk_level_name((hk_level)l)) == 0) {
            c->log_level = (hk_level)l;
            return;
        }
    warn(c, "KOALA_LOG_LEVEL", value, "is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL", "INFO");
}

/* "ip:port" or ":port", comma separated; a bad entry is skipped and named. */
static void get_bypass(hk_config *c, const char *value)
{
    c->n_bypass = 0;
    if (!value)
        return;
    char item[128];
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, ",");
        kl_addr a;
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
        bool any_ip = item[0] == ':';
        if (n == 0 || n >= sizeof item || kl_addr_parse(item, &a) != KL_OK || !a.port || a.unix_path[0])
            warn(c, "KOALA_OUTBOUND_BYPASS_ADDR", item, "is not ip:port or :port", "the other entries");
        else if (c->n_bypass == HK_MAX_BYPASS)
            warn(c, "KOALA_OUTBOUND_BYPASS_ADDR", item, "is past the 32 entries kept", "the first 32");
        else {
            if (any_ip)
                a.family = 0;
            c->bypass[c->n_bypass++] = a;
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

static void get_duration(hk_config *c, const char *value, const char *name, int64_t *dst,
                         int64_t dflt, const char *dflt_text)
{
    *dst = dflt;
    if (value && kl_parse_duration(value, dst) != KL_OK) {
        *dst = dflt;
        warn(c, name, value, "is not a duration such as 100ms, 5s or 1m", dflt_text);
    }
}

static void get_count(hk_config *c, const char *value, const char *name, int *dst, int dflt,
                      const char *dflt_text)
{
    *dst = dflt;
    if (!value)
        return;
    char *end;
    long v = strtol(value, &end, 10);
    if (!*value || *end || v < 1 || v > 1000000)
        warn(c, name, value, "is not a whole number from 1 to 1000000", dflt_text);
    else
        *dst = (int)v;
}

/* value as an address, ":port" on loopback: nothing listens on every interface unless asked
 * to. */
static bool parse_addr(const char *value, kl_addr *a)
{
    char text[KL_ADDR_STRLEN];
    snprintf(text, sizeof text, "%s%s", value[0] == ':' ? "127.0.0.1" : "", value);
    return kl_addr_parse(text, a) == KL_OK;
}

/* An address to listen on or call: ip:port, :port or a unix socket path. */
static void get_addr(hk_config *c, const char *value, const char *name, kl_addr *dst,
                     const char *dflt)
{
    kl_addr_parse(dflt, dst);
    if (!value)
        return;
    kl_addr a;
    if (!parse_addr(value, &a) || kl_addr_is_empty(&a) || (!a.unix_path[0] && !a.port))
        warn(c, name, value, "is not ip:port, :port or a unix socket path", dflt);
    else
        *dst = a;
}

/* Ports, comma separated; a bad entry is skipped and named. */
static void get_ports(hk_config *c, const char *value)
{
    c->n_bypass_ports = 0;
    for (const char *p = value; p && *p;) {
        size_t n = strcspn(p, ",");
        char *end;
        long port = strtol(p, &end, 10);
        if (n == 0 || end != p + n || port < 1 || port > 65535)
            warn(c, "KOALA_OUTBOUND_BYPASS_PORT", p, "has an entry that is not a port", "the other entries");
        else if (c->n_bypass_ports == HK_MAX_BYPASS)
            warn(c, "KOALA_OUTBOUND_BYPASS_PORT", p, "is past the 32 entries kept", "the first 32");
        else
            c->bypass_ports[c->n_bypass_ports++] = (uint16_t)port;
        p += n;
        if (*p == ',')
            p++;
    }
}

static void get_match(hk_config *c, const char *strategy, const char *threshold)
{
    kl_match_opts_init(&c->match);
    if (strategy && *strategy && kl_match_strategy_parse(strategy, &c->match.strategy) != KL_OK)
        warn(c, "KOALA_REPLAYING_MATCH_STRATEGY", strategy, "is not chunk or sim", "chunk");
    if (!threshold)
        return;
    char *end;
    double t = strtod(threshold, &end);
    if (!*threshold || *end || !(t > 0 && t <= 1))
        warn(c, "KOALA_REPLAYING_MATCH_THRESHOLD", threshold, "is not a number above 0 and at most 1", "0.7");
    else
        c->match.threshold = t;
}

/* The witch's address: ip:port, :port on loopback, or off. */
static void get_witch(hk_config *c, const char *value)
{
    static const char dflt[] = "127.0.0.1:8318";
    kl_addr_parse(dflt, &c->witch_addr);
    if (!value)
        return;
    if (strcasecmp(value, "off") == 0) {
        memset(&c->witch_addr, 0, sizeof c->witch_addr);
        return;
    }
    kl_addr a;
    if (!parse_addr(value, &a) || !a.family || !a.port)
        warn(c, "KOALA_WITCH_ADDR", value, "is not ip:port, :port or off", dflt);
    else
        c->witch_addr = a;
}

void hk_config_load(hk_config *c, const char *(*get)(const char *name))
{
    memset(c, 0, sizeof *c);
    get_path(c, get("KOALA_RECORD_TO_DIR"), "KOALA_RECORD_TO_DIR", c->record_dir,
             sizeof c->record_dir, "");
    get_protocol(c, get("KOALA_INBOUND_PROTOCOL"));
    /* stderr rather than the original's stdout: a CGI or pipe service owns its stdout. */
    get_path(c, get("KOALA_LOG_FILE"), "KOALA_LOG_FILE", c->log_file, sizeof c->log_file, "STDERR");
    get_level(c, get("KOALA_LOG_LEVEL"));
    get_bypass(c, get("KOALA_OUTBOUND_BYPASS_ADDR"));
    get_duration(c, get("KOALA_GC_GLOBAL_STATUS_TIMEOUT"), "KOALA_GC_GLOBAL_STATUS_TIMEOUT",
                 &c->gc_timeout_ns, 5000000000, "5s");
    get_count(c, get("KOALA_MAX_ACTIONS"), "KOALA_MAX_ACTIONS", &c->max_actions, 500, "500");
    get_addr(c, get("KOALA_SUT_ADDR"), "KOALA_SUT_ADDR", &c->sut_addr, "127.0.0.1:2515");
    get_addr(c, get("KOALA_INBOUND_ADDR"), "KOALA_INBOUND_ADDR", &c->inbound_addr, "127.0.0.1:2514");
    get_addr(c, get("KOALA_OUTBOUND_ADDR"), "KOALA_OUTBOUND_ADDR", &c->outbound_addr, "127.0.0.1:2516");
    get_duration(c, get("KOALA_INBOUND_READ_TIMEOUT"), "KOALA_INBOUND_READ_TIMEOUT",
                 &c->inbound_read_timeout_ns, 100000000, "100ms");
    get_ports(c, get("KOALA_OUTBOUND_BYPASS_PORT"));
    get_match(c, get("KOALA_REPLAYING_MATCH_STRATEGY"), get("KOALA_REPLAYING_MATCH_THRESHOLD"));
    get_witch(c, get("KOALA_WITCH_ADDR"));
}

bool hk_config_bypassed(const hk_config *c, const kl_addr *peer)
{
    for (int i = 0; i < c->n_bypass_ports; i++)
        if (peer->port && c->bypass_ports[i] == peer->port)
            return true;
    for (int i = 0; i < c->n_bypass; i++) {
        const kl_addr *b = &c->bypass[i];
        if (b->port != peer->port)
            continue;
        if (!b->family)
            return true;
        if (b->family == peer->family && memcmp(b->ip, peer->ip, b->family == AF_INET ? 4 : 16) == 0)
            return true;
    }
    return false;
}
