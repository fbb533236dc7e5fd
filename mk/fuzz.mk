# fuzz.mk - libFuzzer targets for chatd's frame parser and config loader.
# Included by the top-level Makefile.  The chatd sources a target needs are
# compiled straight into it with the fuzzer's flags (clang, ASan, UBSan),
# not linked from $(BUILD)/chatd, so no daemon is built.
#
#   make fuzz-frame      proto_parse, both endpoints   (FUZZ_SECONDS=60)
#   make fuzz-config     config_load on a file          (FUZZ_SECONDS=60)
#   make fuzz-event      the msg event reader (wire.h)  (FUZZ_SECONDS=60)
#
# Each run grows $(BUILD)/fuzz/corpus-<name> from the seeds in
# tests/fuzz/corpus/<name> and leaves any crash in tests/fuzz/artifacts/.
# moderation/moderation.mk uses the names FUZZ_FLAGS and FUZZ_LIBS for its
# own target; these are CHATD_FUZZ_* so the two files can be included in
# either order.

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := $(BUILD)/fuzz

CHATD_FUZZ_PKGS  := jansson inih libwebsockets
CHATD_FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra \
                    -Wno-unused-parameter -Ichatd \
                    -fsanitize=fuzzer,address,undefined \
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                    $(shell pkg-config --cflags $(CHATD_FUZZ_PKGS) 2>/dev/null)
CHATD_FUZZ_LIBS  := $(shell pkg-config --libs $(CHATD_FUZZ_PKGS) 2>/dev/null)
# log.c is in both so a log call added to proto.c or config.c still links.
FUZZ_FRAME_SRC   := tests/fuzz/fuzz_frame.c chatd/proto.c chatd/log.c
FUZZ_CONFIG_SRC  := tests/fuzz/fuzz_config.c chatd/config.c chatd/log.c
# wire.c names triage severities, so the engine comes along.
FUZZ_EVENT_SRC   := tests/fuzz/fuzz_event.c chatd/wire.c chatd/proto.c \
                    chatd/log.c $(wildcard moderation/*.c)
FUZZ_EVENT_LIBS  := $(shell pkg-config --libs libpcre2-8 2>/dev/null)

.PHONY: fuzz-frame fuzz-config fuzz-event

$(FUZZ_DIR)/fuzz_frame: $(FUZZ_FRAME_SRC) chatd/proto.h chatd/log.h
	@mkdir -p $(@D)
	@echo "  FUZZ   $@"
	$(Q)$(FUZZ_CC) $(CHATD_FUZZ_FLAGS) -o $@ $(FUZZ_FRAME_SRC) $(CHATD_FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_config: $(FUZZ_CONFIG_SRC) chatd/config.h chatd/log.h
	@mkdir -p $(@D)
	@echo "  FUZZ   $@"
	$(Q)$(FUZZ_CC) $(CHATD_FUZZ_FLAGS) -o $@ $(FUZZ_CONFIG_SRC) $(CHATD_FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_event: $(FUZZ_EVENT_SRC) chatd/wire.h chatd/proto.h
	@mkdir -p $(@D)
	@echo "  FUZZ   $@"
	$(Q)$(FUZZ_CC) $(CHATD_FUZZ_FLAGS) -Imoderation -o $@ $(FUZZ_EVENT_SRC) \
	    $(CHATD_FUZZ_LIBS) $(FUZZ_EVENT_LIBS)

# Frames up to just over the 16 KiB limit, plus the endpoint byte.
fuzz-frame: $(FUZZ_DIR)/fuzz_frame
	@mkdir -p tests/fuzz/artifacts $(FUZZ_DIR)/corpus-frame
	$(FUZZ_DIR)/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -max_len=17000 \
	    -artifact_prefix=tests/fuzz/artifacts/frame- \
	    $(FUZZ_DIR)/corpus-frame tests/fuzz/corpus/frame

fuzz-config: $(FUZZ_DIR)/fuzz_config
	@mkdir -p tests/fuzz/artifacts $(FUZZ_DIR)/corpus-config
	$(FUZZ_DIR)/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -artifact_prefix=tests/fuzz/artifacts/config- \
	    $(FUZZ_DIR)/corpus-config tests/fuzz/corpus/config

# A PUBLISH of a few events, some with a sealed text near its limit.
fuzz-event: $(FUZZ_DIR)/fuzz_event
	@mkdir -p tests/fuzz/artifacts $(FUZZ_DIR)/corpus-event
	$(FUZZ_DIR)/fuzz_event -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
	    -artifact_prefix=tests/fuzz/artifacts/event- \
	    $(FUZZ_DIR)/corpus-event tests/fuzz/corpus/event
