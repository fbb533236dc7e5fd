# bench/bench.mk - `make bench`: the load generator, the echo ceiling and
# every scenario of issue #6 (bench/run.sh writes bench/results.json).
# Included from the top Makefile; also works alone:
#   make -f bench/bench.mk bench-tools
#
#   make bench           build chatd and the tools, run every scenario
#   make bench-tools     build build/bench/loadgen, echo, fsync and cpuspeed

BENCH_CC     ?= $(or $(CC),cc)
BENCH_OUT    := build/bench
BENCH_CFLAGS := -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
                $(shell pkg-config --cflags libwebsockets libuv 2>/dev/null)
BENCH_LIBS   := $(shell pkg-config --libs libwebsockets libuv 2>/dev/null)

.PHONY: bench bench-tools
bench-tools: $(BENCH_OUT)/loadgen $(BENCH_OUT)/echo $(BENCH_OUT)/fsync \
             $(BENCH_OUT)/cpuspeed

# the tools that need only libc
$(BENCH_OUT)/loadgen $(BENCH_OUT)/fsync $(BENCH_OUT)/cpuspeed: \
$(BENCH_OUT)/%: bench/%.c
	@mkdir -p $(@D)
	@echo "  CC     $@"
	@$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_OUT)/echo: bench/echo.c
	@mkdir -p $(@D)
	@echo "  CC     $@"
	@$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LIBS)

bench:
	@sh bench/run.sh
