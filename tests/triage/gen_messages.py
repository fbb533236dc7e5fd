#!/usr/bin/env python3
"""gen_messages.py - messages for comparing two builds of the triage engine.

Writes N NUL-separated messages (UTF-8, sometimes invalid on purpose) to
stdout, deterministically for a seed: corpus rows, phrases of the rule
files (cues, lists, triggers, lexicon keys) and plain words, joined and
then disguised the ways parents and evaders write: case, leetspeak,
spaced letters, repeated letters, apostrophes and contractions,
punctuation and clause breaks, look-alike and fullwidth letters, emoji,
zero-width characters, numbers with units, other scripts, stray bytes.
Used by tools/triage-compare.sh.

Usage: gen_messages.py RULES_DIR CORPUS_TSV N [SEED]
"""
import glob
import os
import random
import re
import sys

PLAIN = ("the a and my i he she they it is was to of in on at for with "
         "not no but so just really very all some today tonight now then "
         "mum dad son daughter kids baby school home work phone money "
         "want need feel think know said going got have had can will would "
         "help please sorry thanks hello hi ok fine bad sad tired scared "
         "angry worried again never always every night day week year").split()

LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7"}
LOOK = {"a": ["\u0430", "\u03b1"], "e": ["\u0435", "\u03b5"],
        "o": ["\u043e", "\u03bf"], "i": ["\u0456", "\u03b9"],
        "c": ["\u0441"], "p": ["\u0440"], "x": ["\u0445"], "y": ["\u0443"],
        "k": ["\u043a"], "s": ["\u0455"], "d": ["\u0501"]}
ODD = ["\U0001F48A", "\U0001F52A", "\U0001FAA2", "\U0001F52B", "\U0001FA78",
       "\u26b0", "\U0001F480", "\U0001F602", "\u2764\ufe0f", "\u200b", "\u200d",
       "\u00ad", "\ufeff", "\u2019", "\u2018", "`", "\u00b4", "\u2026",
       "\u00e9", "\u00e8", "\u00fc", "\u00df", "\u00e6", "\u0131", "\u00aa",
       "\u00b2", "\u2074", "\u0434", "\u6211", "\u0301", "\u2e80", "_",
       "\u3002", "\uff0e", "\u2028", "\u00a0", "\t", "\r", "\n", "\r\n",
       "\u24b6", "\U0001D400", "\U0001F130", "\uff41", "\uff21", "\ufffd"]
PUNCT = [".", ",", "!", "?", ";", ":", "...", " - ", "(", ")", "\"", "'",
         "*", "/", "&", "#", "%", "+", "=", "~", "^", "<", ">", "|", "\\",
         "@", "$", "!!", "?!", " .", ", "]
UNITS = ["mg", "ml", "g", "am", "pm", "yo", "yrs", "x", "k", "st", "nd", "th",
         "hrs", "days", "tabs", "pills", "", "", ""]


def rule_phrases(rules_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(rules_dir, "*.rules"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                m = re.match(r"(cue|list [a-z_]+|trigger [a-z_]+)\s*:?\s*(.*)",
                             line)
                if m:
                    for p in m.group(2).split("|"):
                        p = re.sub(r"\{[a-z_]+\}", lambda _: "", p).strip()
                        p = p.replace("*", "")
                        if p:
                            out.append(p)
                m = re.match(r"spell\s+(\S+)\s*=\s*(.*)", line)
                if m:
                    out.append(m.group(1))
                    out.append(m.group(2).strip())
                for w in re.findall(r"[a-z]{3,}", line.split(":", 1)[-1]
                                    if line.startswith(("require", "except",
                                                        "escalate")) else ""):
                    out.append(w)
    return out


def corpus_texts(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("#") or line.startswith("id\t"):
                continue
            parts = line.split("\t", 4)
            if len(parts) == 5:
                out.append(parts[4])
    return out


def disguise_word(r, w):
    k = r.random()
    if k < 0.04:
        return "".join(LEET[c][r.randrange(len(LEET[c]))]
                       if c in LEET and r.random() < 0.5 else c for c in w)
    if k < 0.06 and len(w) > 2:
        return r.choice([" ", ".", " ", "  ", "-"]).join(w)
    if k < 0.09 and w:
        i = r.randrange(len(w))
        return w[:i + 1] + w[i] * r.randrange(1, 6) + w[i + 1:]
    if k < 0.12:
        return w.upper() if r.random() < 0.5 else w.capitalize()
    if k < 0.14:
        return "".join(r.choice(LOOK[c]) if c in LOOK and r.random() < 0.4
                       else c for c in w)
    if k < 0.15:
        return "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" and
                       r.random() < 0.5 else c for c in w)
    if k < 0.16 and w:
        i = r.randrange(len(w) + 1)
        return w[:i] + r.choice(ODD) + w[i:]
    if k < 0.18 and len(w) > 3:
        i = r.randrange(1, len(w))
        return w[:i] + r.choice(["'", "\u2019", "`"]) + w[i:]
    if k < 0.20 and len(w) > 3:
        i = r.randrange(len(w))
        return w[:i] + w[i + 1:]
    if k < 0.21:
        return w + r.choice(["'ll", "'re", "'ve", "'m", "'d", "'s", "n't",
                             "\u2019ll", "'LL", "'Re"])
    return w


def message(r, texts, phrases):
    parts = []
    for _ in range(r.choice([1, 1, 2, 2, 3, 4, 6])):
        k = r.random()
        if k < 0.45:
            t = r.choice(texts)
            if r.random() < 0.3:
                ws = t.split()
                a = r.randrange(len(ws) + 1)
                b = r.randrange(a, len(ws) + 1)
                t = " ".join(ws[a:b])
            parts.append(t)
        elif k < 0.8:
            parts.append(r.choice(phrases))
        elif k < 0.9:
            parts.append(" ".join(r.choice(PLAIN)
                                  for _ in range(r.randrange(1, 8))))
        else:
            parts.append(str(r.choice([1, 2, 3, 5, 7, 10, 12, 16, 20, 50,
                                       100, 500, 800, 1000, 2.5]))
                         + r.choice(UNITS) + " " + r.choice(phrases))
    words = []
    for p in parts:
        for w in re.split(r"( +)", p):
            if w.strip():
                words.append(disguise_word(r, w))
            elif w:
                words.append(w)
        words.append(r.choice([" ", " ", " ", ". ", ", ", "! ", "\n", " and ",
                               " but ", "? ", "... ", " - ", " ;) "]))
    text = "".join(words).strip()
    for _ in range(r.choice([0, 0, 0, 1, 2])):
        i = r.randrange(len(text) + 1)
        text = text[:i] + r.choice(PUNCT + ODD) + text[i:]
    data = text.encode("utf-8")
    k = r.random()
    if k < 0.01:  # stray or cut bytes: invalid UTF-8
        i = r.randrange(len(data) + 1)
        data = data[:i] + bytes([r.choice([0x80, 0xbf, 0xc0, 0xc3, 0xe2,
                                           0xf0, 0xff, 0xfe])]) + data[i:]
    elif k < 0.015:
        data = data * r.randrange(2, 40)  # long messages
    elif k < 0.02:
        data = data[:r.randrange(len(data) + 1)]
    return data.replace(b"\0", b" ")


def main():
    rules_dir, corpus, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    r = random.Random(seed)
    texts = corpus_texts(corpus)
    phrases = rule_phrases(rules_dir)
    out = sys.stdout.buffer
    for t in texts:  # every corpus row as it is
        out.write(t.encode("utf-8") + b"\0")
    for _ in range(n):
        out.write(message(r, texts, phrases) + b"\0")


if __name__ == "__main__":
    main()
