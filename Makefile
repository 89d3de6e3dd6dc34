# envoi: one Makefile for the whole tree. Sources are discovered, so adding a
# file never means editing this file:
#   shared/*.c                 -> build/libenvoi.a (and build/asan/libenvoi.a)
#   services/<role>/*.c        -> build/bin/<role>
#   cli/envoi/*.c              -> build/bin/envoi
#   tests/unit/test_<x>.c      -> build/tests/test_<x> (+ ASan/UBSan twin)
#   fuzz/fuzz_<x>.c            -> build/fuzz/replay_<x> (corpus replay, gcc)
#                                 and build/fuzz/fuzz_<x> (libFuzzer, `make fuzz`)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter
PKGS    := libuv jansson libgit2 libsodium ldns
DEPCF   := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEPLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lmbedtls -lmbedx509 -lmbedcrypto -lm
INC     := -Ishared
ASANF   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B       := build
SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:shared/%.c=$(B)/obj/shared/%.o)
SHARED_ASAN:= $(SHARED_SRC:shared/%.c=$(B)/asan/shared/%.o)
SERVICES   := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/main.c))))
SERVICE_BIN:= $(SERVICES:%=$(B)/bin/%)
CLI_SRC    := $(wildcard cli/envoi/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_ASAN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/asan_%)
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
FUZZ_REPLAY:= $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/replay_%)
FUZZ_BIN   := $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/fuzz_%)

.PHONY: all deps test unit proc proc-asan e2e fuzz fuzz-replay up down demo clean format
all: $(SERVICE_BIN) $(B)/bin/envoi

deps:
	@scripts/install-deps.sh build

# -MMD: each object records the headers it includes, so a change to any
# header (shared or a service's own) rebuilds exactly its users.
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"; $(CC) $(CFLAGS) $(WARN) $(INC) $(DEPCF) -MMD -MP -c $< -o $@
$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $< (asan)"; $(CC) $(ASANF) $(WARN) $(INC) $(DEPCF) -MMD -MP -c $< -o $@
-include $(shell find $(B) -name '*.d' 2>/dev/null)

$(B)/libenvoi.a: $(SHARED_OBJ)
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libenvoi.a: $(SHARED_ASAN)
	@rm -f $@; ar rcs $@ $^

# Objects of services are intermediate to make; keep them so relinks stay cheap.
.SECONDARY:
.SECONDEXPANSION:
$(B)/bin/%: $$(addprefix $(B)/obj/,$$(subst .c,.o,$$(wildcard services/$$*/*.c))) $(B)/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(CFLAGS) -o $@ $^ $(DEPLIBS)
$(B)/bin/envoi: $(CLI_SRC:%.c=$(B)/obj/%.o) $(B)/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(CFLAGS) -o $@ $^ $(DEPLIBS)

$(B)/tests/test_%: tests/unit/test_%.c $(B)/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(CFLAGS) $(WARN) $(INC) $(DEPCF) -o $@ $^ -lcmocka $(DEPLIBS)
$(B)/tests/asan_test_%: tests/unit/test_%.c $(B)/asan/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(ASANF) $(WARN) $(INC) $(DEPCF) -o $@ $^ -lcmocka $(DEPLIBS)

# Replay: every fuzz target also builds with gcc + ASan/UBSan against a small
# driver that feeds it each file of its committed corpus.
$(B)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(B)/asan/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(ASANF) $(WARN) $(INC) $(DEPCF) -o $@ $^ $(DEPLIBS)
$(B)/fuzz/fuzz_%: fuzz/fuzz_%.c $(SHARED_SRC)
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) $(INC) $(DEPCF) -o $@ $^ $(DEPLIBS)

# Services and envoi built with ASan/UBSan, for the process tests that run
# them under the sanitizers (`make proc-asan`).
ASAN_BIN := $(SERVICES:%=$(B)/asan/bin/%) $(B)/asan/bin/envoi
$(B)/asan/bin/%: $$(addprefix $(B)/asan/,$$(subst .c,.o,$$(wildcard services/$$*/*.c))) $(B)/asan/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(ASANF) -o $@ $^ $(DEPLIBS)
$(B)/asan/bin/envoi: $(CLI_SRC:%.c=$(B)/asan/%.o) $(B)/asan/libenvoi.a
	@mkdir -p $(dir $@)
	@echo "  LD  $@"; $(CC) $(ASANF) -o $@ $^ $(DEPLIBS)

unit: $(UNIT_BIN) $(UNIT_ASAN)
	@scripts/run-unit.sh $(UNIT_BIN) $(UNIT_ASAN)

fuzz-replay: $(FUZZ_REPLAY)
	@scripts/run-fuzz-replay.sh $(FUZZ_REPLAY)

fuzz: $(FUZZ_BIN)
	@scripts/run-fuzz.sh $(FUZZ_BIN)

proc: all
	@scripts/run-pytest.sh tests/proc

# The SMTP data path (hop, TLS, verifier, signer) again, every daemon under
# ASan/UBSan with leak checking at exit.
proc-asan: $(ASAN_BIN)
	@ENVOI_BIN_DIR=$(CURDIR)/$(B)/asan/bin ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  scripts/run-pytest.sh tests/proc/test_hop.py tests/proc/test_tls.py tests/proc/test_verifier.py tests/proc/test_submission.py tests/proc/test_signer.py tests/proc/test_send.py tests/proc/test_chaos.py tests/proc/test_spamfilter.py \
	  tests/proc/test_dns_primary.py tests/proc/test_dns_resolver.py tests/proc/test_dns_dnssec.py tests/proc/test_dns_nsec3.py tests/proc/test_dns_fastpath.py

e2e: all
	@scripts/run-pytest.sh tests/e2e

# Everything, in order of cost; any failure fails the target.
test:
	@scripts/install-deps.sh test
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-replay
	$(MAKE) proc
	$(MAKE) proc-asan
	$(MAKE) e2e

up:
	@scripts/install-deps.sh docker
	@scripts/lab.sh up
down:
	@scripts/lab.sh down
demo:
	@scripts/lab.sh demo

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)
