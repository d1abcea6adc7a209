/* hk_hooks_main.c - the recorder's start and end: configuration, log, sink, and the summary
 * line at exit. */
#include "hk.h"

#include <errno.h>
#include <stdlib.h>

static hk_config cfg;
static bool recording;

static const char *env(const char *name)
{
    return getenv(name);
}

__attribute__((constructor)) static void hk_start(void)
{
    if (!hk_enter())
        return;
    hk_resolve();
    hk_config_load(&cfg, env);
    hk_log_open(&cfg);
    for (int i = 0; i < cfg.n_warnings; i++)
        hk_log(HK_WARN, "%s", cfg.warnings[i]);
    if (!cfg.record_dir[0]) {
        hk_log(HK_INFO, "KOALA_RECORD_TO_DIR is not set: recording nothing");
        hk_leave();
        hk_disable();
        return;
    }
    hk_sink_opts o;
    hk_sink_opts_init(&o, cfg.record_dir, program_invocation_short_name);
    if (hk_sink_start(&o) != KL_OK) {
        hk_leave();
        hk_disable();
        return;
    }
    hk_record_init(&cfg);
    recording = true;
    hk_leave();
}

/* Every thread's session in progress ends here, also of threads still running: a service
 * stopped by exit() loses nothing it finished. */
__attribute__((destructor)) static void hk_stop(void)
{
    if (!recording || !hk_enter())
        return;
    recording = false;
    hk_record_stop();
    hk_sink_stop();
    kl_builder_totals bt;
    hk_record_totals(&bt);
    hk_sink_totals st = hk_sink_get_totals();
    /* Quiet for the many short processes a service may spawn that record nothing. */
    bool any = st.written || st.dropped || bt.dropped;
    hk_log(any ? HK_INFO : HK_DEBUG, "%llu sessions written, %llu dropped, %llu bytes in %llu files",
           (unsigned long long)st.written, (unsigned long long)(st.dropped + bt.dropped),
           (unsigned long long)st.bytes, (unsigned long long)st.files);
    hk_log_close();
    hk_leave();
    hk_disable();
}
