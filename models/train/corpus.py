#!/usr/bin/python3
"""King James Bible corpus from Debian's bible-kjv (public domain text), split by chapter.

  corpus.py OUT_DIR        writes OUT_DIR/train.txt and OUT_DIR/heldout.txt

One chapter per paragraph: verses on their own lines without their references, chapters separated by one blank
line. Every 20th chapter of the canonical order (chapter index 19, 39, ... counting from 0 over all 1,189 chapters)
is held out: no tokenizer or training step sees it, so held-out loss measures text the model never read. The split
is a pure function of the text, so every machine with bible-kjv-text 4.x gets the same files.
"""
import os
import re
import subprocess
import sys

HELDOUT_EVERY = 20
REF = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def chapters():
    # -f turns pretty-printing off: one verse per line, "Ge1:1 In the beginning ..."
    out = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], check=True, capture_output=True, text=True).stdout
    chaps, key = [], None
    for line in out.splitlines():
        m = REF.match(line)
        if not m:
            raise SystemExit("unexpected line from bible: %r" % line[:80])
        book, chap, text = m.group(1), int(m.group(2)), m.group(4).strip()
        if (book, chap) != key:
            chaps.append([])
            key = (book, chap)
        chaps[-1].append(text)
    return chaps


def split(chaps):
    train = [c for i, c in enumerate(chaps) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held = [c for i, c in enumerate(chaps) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    return train, held


def write(path, chaps):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(c) for c in chaps) + "\n")


def ensure(data):
    """The train and held-out chapters of DATA_DIR, written there first when missing (train.py, distill.py)."""
    if not os.path.exists(os.path.join(data, "train.txt")):
        os.makedirs(data, exist_ok=True)
        train_c, held_c = split(chapters())
        write(os.path.join(data, "train.txt"), train_c)
        write(os.path.join(data, "heldout.txt"), held_c)
    return read(os.path.join(data, "train.txt")), read(os.path.join(data, "heldout.txt"))


def read(path):
    """Chapters of a file written by write(): a list of strings, verses joined by newlines."""
    with open(path, encoding="utf-8") as f:
        return [c for c in f.read().strip("\n").split("\n\n") if c]


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "data"
    os.makedirs(out, exist_ok=True)
    chaps = chapters()
    if len(chaps) != 1189:
        raise SystemExit("expected the 1,189 chapters of the KJV, got %d" % len(chaps))
    train, held = split(chaps)
    write(os.path.join(out, "train.txt"), train)
    write(os.path.join(out, "heldout.txt"), held)
    print("chapters: %d train, %d held out; verses %d / %d" % (len(train), len(held), sum(map(len, train)), sum(map(len, held))))
