# chatd - build, test and run.  `make help` lists the targets.
#
#   make            build bin/chatd
#   make run        install what is missing, build, start on :8080
#   make test       install what is missing, build, run every test
#   make test SANITIZE=1   the same under ASan+UBSan (build in build/san)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each
#   make bench      the load generator's scenarios (bench/results.json)
#   make triage-eval, make bench-triage   triage figures
#   V=1             show full commands

CC      ?= cc
PKGS    := libwebsockets hiredis libsodium libpcre2-8 jansson libuv inih
SANITIZE ?=
V       ?=

ifeq ($(V),1)
Q :=
else
Q := @
endif

ifeq ($(SANITIZE),1)
BUILD   := build/san
BIN     := build/san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   := build/rel
BIN     := bin
SANFLAGS :=
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Ichatd -Imoderation -I$(BUILD) $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lm

CHATD_SRC := $(wildcard chatd/*.c)
CHATD_OBJ := $(CHATD_SRC:%.c=$(BUILD)/%.o) $(BUILD)/scripts.o
CHATD_LIB_OBJ := $(filter-out $(BUILD)/chatd/main.o,$(CHATD_OBJ))
MOD_SRC   := $(wildcard moderation/*.c)
MOD_OBJ   := $(MOD_SRC:%.c=$(BUILD)/%.o)
MOD_LIB   := $(BUILD)/libmoderation.a
LUA       := $(sort $(wildcard chatd/scripts/*.lua))
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test fuzz test-unit test-integration clean help format check-format
all: $(BIN)/chatd

$(BIN)/chatd: $(CHATD_OBJ) $(MOD_LIB)
	@mkdir -p $(@D)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC     $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The Lua scripts are compiled into the binary, each prefixed by lib.lua.
$(BUILD)/scripts.c: $(LUA) tools/embed-lua.sh
	@mkdir -p $(@D)
	@echo "  GEN    $@"
	$(Q)sh tools/embed-lua.sh $(LUA) > $@

$(BUILD)/scripts.o: $(BUILD)/scripts.c
	@echo "  CC     $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(MOD_LIB): $(MOD_OBJ)
	@mkdir -p $(@D)
	@echo "  AR     $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(CHATD_LIB_OBJ) $(MOD_LIB)
	@mkdir -p $(@D)
	@echo "  CC     $<"
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@sh tools/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@if [ -n "$$CI" ] && [ -z "$(SANITIZE)" ]; then \
		$(MAKE) --no-print-directory SANITIZE=1 all; fi
	@CHATD_BIN=$(BIN)/chatd UNIT_DIR=$(BUILD)/tests sh tests/run.sh

fuzz:
	@sh tools/fuzz-all.sh

# PNGs of each widget state (phone) and the console (desktop) in docs/screenshots/.
.PHONY: screenshots
screenshots: deps
	@$(MAKE) --no-print-directory all
	@{ [ -d node_modules ] && [ ! package-lock.json -nt node_modules ]; } || npm ci --no-audit --no-fund
	@CHATD_BIN=$(BIN)/chatd node tests/browser/screenshots.js

# Every C file of ours; `make check-format` fails on any that is not as
# .clang-format says.
FORMAT_SRC := $(wildcard chatd/*.[ch] moderation/*.[ch] tests/unit/*.[ch] \
              tests/triage/*.[ch] tests/fuzz/*.[ch] bench/*.c)

format:
	clang-format -i $(FORMAT_SRC)

check-format:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build bin

help:
	@sed -n "2,11p" Makefile

-include moderation/moderation.mk
-include mk/fuzz.mk
-include mk/fuzz-more.mk
-include bench/bench.mk
-include $(CHATD_OBJ:.o=.d) $(MOD_OBJ:.o=.d) $(UNIT_BIN:=.d)
