# moderation.mk - triage engine: test, evaluation, benchmark and fuzz targets.
# Included by the top-level Makefile, which builds moderation/*.c into
# $(MOD_LIB).  Program mains live in tests/triage/ and tests/fuzz/.
#
#   make test-triage     unit tests + corpus targets ("N passed, N failed")
#   make triage-eval     corpus figures, all rows and held-out rows
#   make bench-triage    median and p99 microseconds per message
#                        (BENCH_TRIAGE_PHASES=1: also its parts, alone,
#                        in place and with the branch predictor disturbed)
#   make fuzz-triage     libFuzzer on normalise + match (FUZZ_SECONDS=60)
#   make triage-compare  this engine against REV's, byte for byte
#                        (TRIAGE_COMPARE_REV, _N, _SEEDS; see compare.sh)

TRIAGE_DIR    := $(BUILD)/triage
TRIAGE_RULES  := moderation/rules
TRIAGE_CORPUS := tests/triage/corpus.tsv
TRIAGE_CLI    := $(TRIAGE_DIR)/triage
TRIAGE_TEST   := $(TRIAGE_DIR)/test_triage
TRIAGE_EVAL   := $(TRIAGE_DIR)/triage_eval
TRIAGE_BENCH  := $(TRIAGE_DIR)/bench_triage
TRIAGE_FUZZ   := $(TRIAGE_DIR)/fuzz_triage
FUZZ_SECONDS  ?= 60
FUZZ_CC       ?= clang

.PHONY: test-triage triage-eval bench-triage fuzz-triage triage-cli \
        triage-compare

triage-cli: $(TRIAGE_CLI)

$(TRIAGE_DIR)/%.o: tests/triage/%.c
	@mkdir -p $(@D)
	@echo "  CC     $<"
	$(Q)$(CC) $(CFLAGS) -Itests/triage -c -o $@ $<

$(TRIAGE_CLI): $(TRIAGE_DIR)/triage_main.o $(MOD_LIB)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TRIAGE_TEST): $(TRIAGE_DIR)/test_triage.o $(TRIAGE_DIR)/eval.o $(MOD_LIB)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TRIAGE_EVAL): $(TRIAGE_DIR)/triage_eval.o $(TRIAGE_DIR)/eval.o $(MOD_LIB)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TRIAGE_BENCH): $(TRIAGE_DIR)/bench_triage.o $(MOD_LIB)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-triage: $(TRIAGE_TEST)
	$(Q)$(TRIAGE_TEST) $(TRIAGE_RULES) $(TRIAGE_CORPUS)

triage-eval: $(TRIAGE_EVAL)
	$(Q)$(TRIAGE_EVAL) $(TRIAGE_RULES) $(TRIAGE_CORPUS)

bench-triage: $(TRIAGE_BENCH)
	$(Q)$(TRIAGE_BENCH) $(TRIAGE_RULES) $(TRIAGE_CORPUS)

TRIAGE_COMPARE_REV   ?= c460052
TRIAGE_COMPARE_N     ?= 25000
TRIAGE_COMPARE_SEEDS ?= 1 2
triage-compare:
	$(Q)sh tests/triage/compare.sh $(TRIAGE_COMPARE_REV) $(TRIAGE_COMPARE_N) \
	    "$(TRIAGE_COMPARE_SEEDS)"

# libFuzzer needs clang; the engine is rebuilt with the fuzzer's flags.
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Imoderation \
              -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
              $(shell pkg-config --cflags libpcre2-8 jansson 2>/dev/null)
FUZZ_LIBS  := $(shell pkg-config --libs libpcre2-8 jansson 2>/dev/null)

$(TRIAGE_FUZZ): tests/fuzz/fuzz_triage.c $(MOD_SRC) moderation/triage_int.h moderation/triage.h
	@mkdir -p $(@D)
	@echo "  FUZZ   $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_triage.c $(MOD_SRC) $(FUZZ_LIBS)

fuzz-triage: $(TRIAGE_FUZZ)
	@mkdir -p tests/fuzz/artifacts $(TRIAGE_DIR)/fuzz-corpus
	TRIAGE_RULES=$(TRIAGE_RULES) $(TRIAGE_FUZZ) -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -artifact_prefix=tests/fuzz/artifacts/ \
	    $(TRIAGE_DIR)/fuzz-corpus tests/fuzz/corpus/triage

-include $(wildcard $(TRIAGE_DIR)/*.d)
