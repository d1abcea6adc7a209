# koala - one non-recursive Makefile. `make help` lists the targets.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
V       ?= 0
SANITIZE ?= 0
BUILD   ?= build

ifeq ($(SANITIZE),1)
B := $(BUILD)/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B := $(BUILD)
SANFLAGS :=
endif

ifeq ($(V),0)
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q :=
say =
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
           -Wswitch-enum -Werror
OPT     ?= -O2 -g
# No errno from math functions, which koala never reads: sqrt is then one instruction, and the
# preloaded libraries need no libm, one library less to load in every process they enter.
BASEFLAGS := -std=c11 -D_GNU_SOURCE -fno-math-errno $(OPT) $(SANFLAGS) -MMD -MP
CFLAGS_OURS := $(BASEFLAGS) $(WARN)
CFLAGS_GEN  := $(BASEFLAGS) -w
LIBS    := -lzstd -lprotobuf-c -lpcre2-8 -lz -lm -lpthread
# The tests and benchmarks check koala's JSON with another parser, jansson's.
CHECK_JSON := -ljansson
LDFLAGS_ALL := $(SANFLAGS)

GEN     := $(B)/gen
PROTO_C := $(GEN)/koala.pb-c.c
PROTO_H := $(GEN)/koala.pb-c.h

LIB_SRC := $(wildcard libkoala/*.c)
LIB_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC)) $(B)/obj/gen/koala.pb-c.o
LIB_A   := $(B)/lib/libkoala.a
LIB_SO  := $(B)/lib/libkoala.so

TOOL_SRC := $(wildcard tools/koala-*.c)
TOOLS    := $(patsubst tools/%.c,$(B)/bin/%,$(TOOL_SRC))
TOOL_LIB := $(B)/obj/tools/tool.o

SAMPLE_GEN := $(B)/bin/koala-samplegen
SVC_BINS   := $(B)/bin/sample-svc $(B)/bin/sample-client

HOOK_SRC := $(wildcard hook/*.c)
# hk_replay*.c are the replayer's own parts: in libkoala-replayer.so only.
REPLAY_SRC := $(wildcard hook/hk_replay*.c)
HOOK_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(filter-out $(REPLAY_SRC),$(HOOK_SRC)))
# The interposers (hk_hooks*.c: the wrappers, the recording behind them, the constructor) stay
# out of the hook's test suites.
HOOK_CORE_OBJ := $(filter-out $(B)/obj/hook/hk_hooks%,$(HOOK_OBJ))
RECORDER := $(B)/lib/libkoala-recorder.so
# The replayer: every hook source built again with HK_REPLAY=1. It also records when
# KOALA_RECORD_TO_DIR is set (recording while replaying, to measure it).
REPLAYER_OBJ := $(patsubst hook/%.c,$(B)/obj/hook-replay/%.o,$(HOOK_SRC))
REPLAYER := $(B)/lib/libkoala-replayer.so

TEST_SRC := $(wildcard tests/check_*.c)
TESTS    := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))
TEST_LIB := $(B)/obj/tests/testutil.o
PROG_SRC := $(wildcard tests/progs/*.c)
PROGS    := $(patsubst tests/progs/%.c,$(B)/tests/progs/%,$(PROG_SRC))

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES   := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

DEB_PKGS := gcc make pkg-config protobuf-c-compiler libprotobuf-c-dev libzstd-dev zstd zlib1g-dev \
            check libsubunit-dev libpcre2-dev libjansson-dev python3 redis-server redis-tools \
            nginx-light curl wrk libmicrohttpd-dev chromium jq php-fpm nodejs

.PHONY: all lib hook svc tools tests benches check demo bench deps install clean help samples fuzz FORCE
.DEFAULT_GOAL := all

all: lib hook tools $(SAMPLE_GEN) $(SVC_BINS)

help:
	@echo 'make            build libkoala, the tools and the sample generator into build/'
	@echo 'make check      run the Check suites and the CLI tests (SANITIZE=1: ASan+UBSan)'
	@echo 'make demo       record, replay and diff the sample service; dump, merge and stats on samples'
	@echo 'make bench      run the benchmarks and print ratios against their baselines'
	@echo 'make samples    regenerate samples/*.pb with the generator'
	@echo 'make svc        build the sample service and its client (build/bin/sample-svc, sample-client)'
	@echo 'make fuzz       fuzz the reader with libFuzzer (clang), FUZZ_SECONDS=60'
	@echo 'make deps       apt-get install the Debian packages the build needs'
	@echo 'make install    PREFIX=/usr/local DESTDIR=: tools, libraries, koala.h, koala.pc'
	@echo 'V=1             show the commands; BUILD=dir builds elsewhere than build/'

# --------------------------------------------------------------- dependencies
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: run as root, or: sudo apt-get install$$missing" >&2; exit 2; fi; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	    { echo "deps: apt-get install$$missing failed" >&2; exit 2; }; \
	fi

# --------------------------------------------------------------- flags
# What every object is built with; rewritten only when that changes (OPT=... on the command
# line, an edit here), and every object depends on it, so no object built otherwise survives.
FLAGS := $(B)/.flags
$(FLAGS): FORCE
	@mkdir -p $(B) && echo '$(CC) $(CFLAGS_OURS) $(CFLAGS_GEN) $(LDFLAGS_ALL)' >$@.new && \
	  { cmp -s $@.new $@ && rm $@.new || mv $@.new $@; }
FORCE:

# --------------------------------------------------------------- generated code
$(PROTO_C) $(PROTO_H): proto/koala.proto
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(GEN) && protoc-c --proto_path=proto --c_out=$(GEN) $<

$(B)/obj/gen/koala.pb-c.o: $(PROTO_C) $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_GEN) -fPIC -fvisibility=hidden -I$(GEN) -c $< -o $@

# --------------------------------------------------------------- library
$(B)/obj/libkoala/%.o: libkoala/%.c $(PROTO_H) $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -fPIC -fvisibility=hidden -DKL_BUILDING \
	  -I$(GEN) -Ilibkoala -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)mkdir -p $(dir $@) && rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) -shared $(LDFLAGS_ALL) -Wl,-soname,libkoala.so.0 -o $@ $^ $(LIBS)

lib: $(LIB_A) $(LIB_SO)

# --------------------------------------------------------------- hook
$(B)/obj/hook/%.o: hook/%.c $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -pthread -fPIC -fvisibility=hidden -Ilibkoala -Ihook \
	  -I$(GEN) -c $< -o $@

# The witch's page, hook/witch.html, as the lines of a C string literal (? escaped: no trigraph).
$(GEN)/hk_witch_page.h: hook/witch.html
	$(call say,GEN,$@)
	$(Q)mkdir -p $(GEN) && sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $< >$@

$(B)/obj/hook/hk_witch.o $(B)/obj/hook-replay/hk_witch.o: $(GEN)/hk_witch_page.h

# Everything linked in with hidden visibility, zstd, protobuf-c and PCRE2 from their
# static archives: the .so needs nothing but libc where the service runs, and a service's own
# copy of those libraries can neither replace ours nor be replaced. libkoala comes from its
# archive too, so only the parts the hook uses are in it. The version script exports the
# wrappers only.
$(RECORDER): $(HOOK_OBJ) $(LIB_A) hook/recorder.map
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) -shared $(LDFLAGS_ALL) -Wl,--version-script=hook/recorder.map \
	  -Wl,-z,defs -o $@ $(HOOK_OBJ) $(LIB_A) -Wl,-Bstatic -lzstd -lprotobuf-c -lpcre2-8 \
	  -Wl,-Bdynamic -lpthread -ldl -Wl,--exclude-libs,ALL

$(B)/obj/hook-replay/%.o: hook/%.c $(FLAGS)
	$(call say,CC,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -DHK_REPLAY=1 -pthread -fPIC -fvisibility=hidden \
	  -Ilibkoala -Ihook -I$(GEN) -c $< -o $@

# As the recorder; libmicrohttpd (the inbound server) is dlopen'ed when it starts.
$(REPLAYER): $(REPLAYER_OBJ) $(LIB_A) hook/replayer.map
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) -shared $(LDFLAGS_ALL) -Wl,--version-script=hook/replayer.map \
	  -Wl,-z,defs -o $@ $(REPLAYER_OBJ) $(LIB_A) -Wl,-Bstatic -lzstd -lprotobuf-c -lpcre2-8 \
	  -Wl,-Bdynamic -lpthread -ldl -Wl,--exclude-libs,ALL

hook: $(HOOK_OBJ) $(RECORDER) $(REPLAYER)

# --------------------------------------------------------------- tools
$(B)/obj/tools/%.o: tools/%.c $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -Ilibkoala -Itools -c $< -o $@

$(B)/bin/%: $(B)/obj/tools/%.o $(TOOL_LIB) $(LIB_A)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS_ALL) -o $@ $< $(TOOL_LIB) $(LIB_A) $(LIBS)

$(B)/obj/samples/%.o: samples/%.c $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -Ilibkoala -Itools -c $< -o $@

$(SAMPLE_GEN): $(B)/obj/samples/samplegen.o $(TOOL_LIB) $(LIB_A)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS_ALL) -o $@ $< $(TOOL_LIB) $(LIB_A) $(LIBS)

tools: $(TOOLS)

# --------------------------------------------------------------- sample service (plain C, no libkoala)
$(B)/obj/samples/svc/%.o: samples/svc/%.c $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -pthread -c $< -o $@

$(B)/bin/sample-svc: $(B)/obj/samples/svc/sample-svc.o $(B)/obj/samples/svc/net.o
$(B)/bin/sample-client: $(B)/obj/samples/svc/client.o $(B)/obj/samples/svc/net.o
$(SVC_BINS):
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS_ALL) -pthread -o $@ $^

svc: $(SVC_BINS)

samples: $(SAMPLE_GEN)
	$(SAMPLE_GEN) samples

# --------------------------------------------------------------- tests
$(B)/obj/tests/%.o: tests/%.c $(PROTO_H) $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -Wno-missing-prototypes $(CHECK_CFLAGS) \
	  -I$(GEN) -Ilibkoala -Ihook -Itests -c $< -o $@

# A hook file's suite links the hook's core, never the interposers (they would hook the test).
$(B)/tests/check_hk_%: $(B)/obj/tests/check_hk_%.o $(HOOK_CORE_OBJ) $(TEST_LIB) $(LIB_A)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(CHECK_JSON) $(CHECK_LIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(TEST_LIB) $(LIB_A)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS_ALL) -o $@ $< $(TEST_LIB) $(LIB_A) $(LIBS) $(CHECK_JSON) $(CHECK_LIBS)

# Programs the preload tests run, built as distributions build services: optimized and
# fortified, so that the fortified entry points (__read_chk...) are the ones called. Not
# sanitized: a sanitized recorder brings its runtime along.
$(B)/tests/progs/%: tests/progs/%.c hook/koala_helper.h
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) -std=c11 -D_GNU_SOURCE -O2 -D_FORTIFY_SOURCE=2 $(WARN) \
	  -Ihook -pthread -o $@ $<

tests: $(TESTS) $(PROGS)

check: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)B=$(B) SANITIZE=$(SANITIZE) sh tests/run.sh $(TESTS)

# --------------------------------------------------------------- demo, bench, fuzz
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)B=$(B) sh samples/demo.sh

$(B)/bench/%: bench/%.c $(LIB_A) $(FLAGS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS_OURS) -Wno-missing-prototypes -Ilibkoala \
	  -o $@ $< $(LIB_A) $(LIBS) $(CHECK_JSON)

benches: $(BENCHES)

bench: deps
	$(Q)$(MAKE) --no-print-directory all benches
	$(Q)B=$(B) sh bench/run.sh

FUZZ_SECONDS ?= 60
fuzz: $(PROTO_C)
	$(Q)mkdir -p $(B)/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -DKL_BUILDING \
	  -I$(GEN) -Ilibkoala -o $(B)/fuzz/fuzz_reader fuzz/fuzz_reader.c $(LIB_SRC) $(PROTO_C) $(LIBS)
	mkdir -p $(B)/fuzz/corpus && cp samples/*.pb samples/bad/*.pb $(B)/fuzz/corpus/ 2>/dev/null; \
	$(B)/fuzz/fuzz_reader -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus

# --------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libkoala.so.0
	ln -sf libkoala.so.0 $(DESTDIR)$(PREFIX)/lib/libkoala.so
	install -m 755 $(RECORDER) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 libkoala/koala.h hook/koala_helper.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@VERSION@|$$(sed -n 's/.*KLI_VERSION \"\(.*\)\"/\1/p' libkoala/kl_internal.h)|" \
	  libkoala/koala.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/koala.pc

clean:
	rm -rf $(BUILD)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
