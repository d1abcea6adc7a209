/* koala-merge.c - merges session files into one, by time or end to end (mergecap's role). */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "Usage: koala-merge [OPTION]... FILE...\n"
    "Merge koala session files into one, in time order (session time, then id).\n"
    "FILE '-' is stdin. Memory stays bounded whatever the size of the inputs.\n"
    "A FILE may also be a session file of the original koala (JSON) or a directory of\n"
    "them (held in memory while merged), read in time order.\n"
    "\n"
    "  -o, --output=OUT   write to OUT (default and '-': stdout, never a terminal)\n"
    "  -a, --append       concatenate the inputs in the order given instead\n"
    "      --dedupe       drop sessions whose id was already written\n"
    "      --level=N      zstd level of the output, 1 to 22 (default 1, for speed;\n"
    "                     higher levels give smaller files)\n"
    "  -v, --verbose      print a summary line to stderr\n"
    "  -h, --help         print this help and exit\n"
    "      --version      print the version and exit\n"
    "\n"
    "All inputs must hold the same kind of sessions (recorded or replayed). A damaged\n"
    "input gives every complete session before the damage, is named in a warning, and\n"
    "makes the exit status 2. Exit status: 0 on success, 2 on any trouble.\n";

enum { OPT_DEDUPE = 256, OPT_LEVEL, OPT_VERSION };

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"output", required_argument, NULL, 'o'},
    {"append", no_argument, NULL, 'a'},
    {"dedupe", no_argument, NULL, OPT_DEDUPE},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"verbose", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

static const char *kind_name(kl_kind k)
{
    return k == KL_KIND_REPLAYED ? "replayed" : "recorded";
}

int main(int argc, char **argv)
{
    tool_init("koala-merge");
    const char *out = "-";
    unsigned flags = 0;
    int level = 1; /* compressing is most of a merge's work: favour speed */
    bool verbose = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:av", long_options, NULL)) != -1) {
        switch (c) {
        case 'h': tool_help(usage);
        case OPT_VERSION: tool_version();
        case 'o': out = optarg; break;
        case 'a': flags |= KL_MERGE_APPEND; break;
        case OPT_DEDUPE: flags |= KL_MERGE_DEDUPE; break;
        case OPT_LEVEL: level = (int)tool_parse_count("--level", optarg, 1, 22); break;
        case 'v': verbose = true; break;
        default: tool_bad_option(c, argv);
        }
    }
    int n = argc - optind;
    char **paths = argv + optind;
    if (n < 1)
        tool_usage_error("no input file (use - for stdin)");
    int stdin_uses = 0;
    for (int i = 0; i < n; i++)
        stdin_uses += tool_is_stdio(paths[i]);
    if (stdin_uses > 1)
        tool_usage_error("stdin ('-') can be read only once");
    tool_refuse_tty(out);
    tool_refuse_output_as_input(out, paths, n);

    int status = TOOL_EXIT_OK;
    kl_reader **readers = calloc((size_t)n, sizeof *readers);
    const char **names = calloc((size_t)n, sizeof *names);
    if (!readers || !names)
        tool_die("out of memory");
    size_t nr = 0;
    kl_kind kind = KL_KIND_UNKNOWN;
    const char *kind_from = NULL;
    for (int i = 0; i < n; i++) {
        const char *name = tool_display_name(paths[i]);
        bool damaged = false;
        readers[nr] = tool_input_open(paths[i], &damaged);
        if (damaged || !readers[nr])
            status = TOOL_EXIT_TROUBLE;
        if (!readers[nr])
            continue;
        kl_kind k = kl_reader_info(readers[nr])->kind;
        if (k != KL_KIND_UNKNOWN && kind != KL_KIND_UNKNOWN && k != kind) {
            for (size_t j = 0; j <= nr; j++)
                tool_reader_close(readers[j]);
            free(readers);
            free(names);
            tool_die("cannot merge %s sessions (%s) with %s sessions (%s)", kind_name(kind),
                     kind_from, kind_name(k), name);
        }
        if (k != KL_KIND_UNKNOWN && kind == KL_KIND_UNKNOWN) {
            kind = k;
            kind_from = name;
        }
        names[nr++] = name;
    }

    kl_merge *m;
    int rc = kl_merge_open(&m, readers, nr, flags);
    if (rc != KL_OK)
        tool_die("%s", kl_strerror(rc));
    /* Only an empty input without a header leaves the kind unknown. */
    if (kind == KL_KIND_UNKNOWN)
        kind = KL_KIND_RECORDED;
    kl_writer *w = tool_writer_open(out, kind, level);
    for (;;) {
        kl_raw raw;
        size_t src;
        rc = kl_merge_next(m, &raw, &src);
        if (rc == KL_END)
            break;
        if (rc < 0) {
            tool_warn_read(names[src], readers[src], rc);
            status = TOOL_EXIT_TROUBLE;
            uint64_t skipped;
            if (kl_merge_skip_damage(m, src, &skipped) == KL_OK)
                tool_warn_skipped(names[src], readers[src], skipped);
            continue;
        }
        if (raw.kind != kind)
            tool_die("%s: holds %s sessions, the output holds %s ones", names[src],
                     kind_name(raw.kind), kind_name(kind));
        if (kl_writer_write_raw(w, &raw) != KL_OK)
            tool_die_writing(out, kl_writer_error(w));
    }
    uint64_t written = 0;
    kl_writer_totals(w, &written, NULL, NULL);
    tool_writer_close(w, out);
    if (verbose)
        fprintf(stderr, "%s: %llu session%s from %zu input%s, %llu duplicate%s dropped\n",
                tool_name, (unsigned long long)written, written == 1 ? "" : "s", nr,
                nr == 1 ? "" : "s", (unsigned long long)kl_merge_duplicates(m),
                kl_merge_duplicates(m) == 1 ? "" : "s");
    kl_merge_close(m);
    for (size_t i = 0; i < nr; i++)
        tool_reader_close(readers[i]);
    free(readers);
    free(names);
    return status;
}
