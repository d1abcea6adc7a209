/* replaying.c - the original koala's /json replay protocol: a ReplayingSession in standard JSON
 * (byte fields in base64, as Go encodes []byte) taken into a kl_session. */
#include "kl_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a value sits, for messages: "$.CallOutbounds[2].Request". */
typedef struct where {
    char path[256];
    char *err;
} where;

static int fail(where *w, const char *what)
{
    if (w->err)
        snprintf(w->err, KL_ERRBUF_SIZE, "%.150s: %.100s", w->path, what);
    return KL_ERR_CORRUPT;
}

/* Append ".name" or "[i]" to w's path; restore with the length it returns. */
static size_t enter(where *w, const char *name, long i)
{
    size_t n = strlen(w->path);
    if (name)
        snprintf(w->path + n, sizeof w->path - n, ".%s", name);
    else
        snprintf(w->path + n, sizeof w->path - n, "[%ld]", i);
    return n;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decode standard base64 (padding required, as Go writes it) into s's memory. */
static int base64(kl_session *s, const char *text, size_t len, kl_bytes *out, where *w)
{
    if (len % 4)
        return fail(w, "not base64: its length is not a multiple of 4");
    uint8_t *buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return KL_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = b64_value((unsigned char)text[i + k]);
            bool pad = text[i + k] == '=' && i + 4 == len && k >= 2 && (k == 3 || text[i + 3] == '=');
            if (v[k] < 0 && !pad) {
                free(buf);
                char why[64];
                snprintf(why, sizeof why, "not base64: byte %zu is '%c'", i + (size_t)k, text[i + k]);
                return fail(w, why);
            }
            if (pad)
                v[k] = -2;
        }
        buf[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (v[2] != -2)
            buf[n++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
        if (v[3] != -2)
            buf[n++] = (uint8_t)(v[2] << 6 | v[3]);
    }
    int rc = kl_session_dup_bytes(s, out, buf, n);
    free(buf);
    return rc;
}

/* Member name of o: absent or null is fine (zero), another type is an error. */
static json_t *member(json_t *o, const char *name, json_type want, where *w, int *rc)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v))
        return NULL;
    if (json_typeof(v) != want && !(want == JSON_INTEGER && json_is_integer(v))) {
        size_t back = enter(w, name, 0);
        static const char *const names[] = {"an object", "an array", "a string", "an integer", "a number",
                                             "true", "false", "null"};
        char why[64];
        snprintf(why, sizeof why, "should be %s", names[want]);
        *rc = fail(w, why);
        w->path[back] = '\0';
        return NULL;
    }
    return v;
}

static int bytes_member(kl_session *s, json_t *o, const char *name, kl_bytes *out, where *w)
{
    int rc = KL_OK;
    json_t *v = member(o, name, JSON_STRING, w, &rc);
    if (!v)
        return rc;
    size_t back = enter(w, name, 0);
    rc = base64(s, json_string_value(v), json_string_length(v), out, w);
    w->path[back] = '\0';
    return rc;
}

static int int_member(json_t *o, const char *name, int64_t *out, where *w)
{
    int rc = KL_OK;
    json_t *v = member(o, name, JSON_INTEGER, w, &rc);
    if (v)
        *out = json_integer_value(v);
    return rc;
}

/* A Go net.TCPAddr: {"IP": "10.0.0.1", "Port": 3306, "Zone": ""}. */
static int addr_member(json_t *o, const char *name, kl_addr *out, where *w)
{
    int rc = KL_OK;
    json_t *v = member(o, name, JSON_OBJECT, w, &rc);
    if (!v)
        return rc;
    size_t back = enter(w, name, 0);
    json_t *ip = member(v, "IP", JSON_STRING, w, &rc);
    int64_t port = 0;
    if (rc == KL_OK)
        rc = int_member(v, "Port", &port, w);
    json_t *zone = rc == KL_OK ? member(v, "Zone", JSON_STRING, w, &rc) : NULL;
    if (rc == KL_OK && ip && *json_string_value(ip)) {
        const char *text = json_string_value(ip);
        char full[KL_ADDR_STRLEN];
        bool v6 = strchr(text, ':') != NULL;
        const char *z = zone ? json_string_value(zone) : "";
        snprintf(full, sizeof full, "%s%s%s%s%s:%lld", v6 ? "[" : "", text, *z ? "%" : "", z, v6 ? "]" : "",
                 (long long)port);
        if (port < 0 || port > 65535 || kl_addr_parse(full, out) != KL_OK)
            rc = fail(w, "not an IP address and port");
    }
    w->path[back] = '\0';
    return rc;
}

/* {"key": "value", ...} into a list of s; values in base64 when b64. */
static int kv_member(kl_session *s, json_t *o, const char *name, const kl_kv **list, size_t *n, bool b64,
                     where *w)
{
    int rc = KL_OK;
    json_t *v = member(o, name, JSON_OBJECT, w, &rc);
    if (!v)
        return rc;
    size_t back = enter(w, name, 0);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        size_t kb = enter(w, key, 0);
        kl_bytes value = {0};
        if (!json_is_string(val))
            rc = fail(w, "should be a string");
        else if (b64)
            rc = base64(s, json_string_value(val), json_string_length(val), &value, w);
        else
            value = (kl_bytes){(const uint8_t *)json_string_value(val), json_string_length(val)};
        if (rc == KL_OK)
            rc = kl_session_add_kv(s, list, n, (kl_bytes){(const uint8_t *)key, strlen(key)}, value);
        w->path[kb] = '\0';
        if (rc != KL_OK)
            break;
    }
    w->path[back] = '\0';
    return rc;
}

static int call_outbound(kl_session *s, json_t *c, where *w)
{
    if (!json_is_object(c))
        return fail(w, "should be an object");
    kl_action a = {.type = KL_ACTION_CALL_OUTBOUND};
    int rc = int_member(c, "ActionIndex", &a.index, w);
    if (rc == KL_OK)
        rc = int_member(c, "OccurredAt", &a.occurred_at, w);
    if (rc == KL_OK)
        rc = int_member(c, "SocketFD", &a.socket_fd, w);
    if (rc == KL_OK)
        rc = int_member(c, "ResponseTime", &a.response_time, w);
    if (rc == KL_OK)
        rc = addr_member(c, "Peer", &a.peer, w);
    if (rc == KL_OK)
        rc = addr_member(c, "Local", &a.local, w);
    if (rc == KL_OK)
        rc = bytes_member(s, c, "Request", &a.request, w);
    if (rc == KL_OK)
        rc = bytes_member(s, c, "Response", &a.response, w);
    if (rc == KL_OK)
        rc = bytes_member(s, c, "CSpanId", &a.cspan_id, w);
    return rc == KL_OK ? kl_session_add_action(s, &a) : rc;
}

static int take(kl_session *s, json_t *root, where *w)
{
    if (!json_is_object(root))
        return fail(w, "should be an object (a ReplayingSession)");
    int rc = KL_OK;
    json_t *id = member(root, "SessionId", JSON_STRING, w, &rc);
    if (rc == KL_OK && id)
        rc = kl_session_dup_str(s, &s->id, json_string_value(id));
    json_t *in = rc == KL_OK ? member(root, "CallFromInbound", JSON_OBJECT, w, &rc) : NULL;
    if (in) {
        size_t back = enter(w, "CallFromInbound", 0);
        s->call_from_inbound.present = true;
        rc = int_member(in, "OccurredAt", &s->call_from_inbound.occurred_at, w);
        if (rc == KL_OK)
            rc = int_member(in, "ActionIndex", &s->call_from_inbound.index, w);
        if (rc == KL_OK)
            rc = addr_member(in, "Peer", &s->call_from_inbound.peer, w);
        if (rc == KL_OK)
            rc = bytes_member(s, in, "Request", &s->call_from_inbound.request, w);
        w->path[back] = '\0';
    }
    json_t *ret = rc == KL_OK ? member(root, "ReturnInbound", JSON_OBJECT, w, &rc) : NULL;
    if (ret) {
        size_t back = enter(w, "ReturnInbound", 0);
        s->return_inbound.present = true;
        rc = int_member(ret, "OccurredAt", &s->return_inbound.occurred_at, w);
        if (rc == KL_OK)
            rc = int_member(ret, "ActionIndex", &s->return_inbound.index, w);
        if (rc == KL_OK)
            rc = bytes_member(s, ret, "Response", &s->return_inbound.response, w);
        w->path[back] = '\0';
    }
    json_t *calls = rc == KL_OK ? member(root, "CallOutbounds", JSON_ARRAY, w, &rc) : NULL;
    size_t back = enter(w, "CallOutbounds", 0);
    for (size_t i = 0; calls && rc == KL_OK && i < json_array_size(calls); i++) {
        size_t item = enter(w, NULL, (long)i);
        rc = call_outbound(s, json_array_get(calls, i), w);
        w->path[item] = '\0';
    }
    w->path[back] = '\0';
    if (rc == KL_OK)
        rc = kv_member(s, root, "RedirectDirs", &s->redirect_dirs, &s->n_redirect_dirs, false, w);
    if (rc == KL_OK)
        rc = kv_member(s, root, "MockFiles", &s->mock_files, &s->n_mock_files, true, w);
    return rc;
}

int kl_replaying_from_json(const uint8_t *data, size_t len, kl_session **out, char *errbuf)
{
    if (!out || (!data && len))
        return KL_ERR_INVALID;
    *out = NULL;
    if (errbuf)
        errbuf[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (errbuf)
            snprintf(errbuf, KL_ERRBUF_SIZE, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return KL_ERR_CORRUPT;
    }
    kl_session *s = kl_session_new();
    where w = {.path = "$", .err = errbuf};
    int rc = s ? take(s, root, &w) : KL_ERR_NOMEM;
    json_decref(root);
    if (rc != KL_OK) {
        kl_session_free(s);
        return rc;
    }
    *out = s;
    return KL_OK;
}
