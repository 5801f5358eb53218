#!/usr/bin/env python3
"""Writes the seed inputs of the libFuzzer harnesses (native/fuzz/corpus/NAME/seed-*): for each harness, inputs whose
leading bytes select every type and mode flag the harness reads (see each fuzz_*.c), followed by deterministic
pseudo-random bytes for the sizes and data. Crash reproducers are added beside them by fuzzing (crash-*)."""
import os, random

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rnd = random.Random(17)

def write(name, i, head):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"seed-{i:03d}"), "wb") as f:
        f.write(bytes(head) + bytes(rnd.randrange(256) for _ in range(1200)))

i = 0
for t in range(15):                 # matmul: type, flags
    for flags in (0, 4 | 8, 1 | 16, 2 | 8):
        write("matmul", i, [t, flags]); i += 1
i = 0
for t in range(15):                 # quantize: type, flags
    for flags in (0, 1 | 4, 2):
        write("quantize", i, [t, flags]); i += 1
i = 0
for kt in range(9):                 # attention: flags, k type, v type
    for flags in (0, 1, 8 | 16, 1 | 8, 2, 4 | 1):
        write("attention", i, [flags, kt, (kt * 5 + flags) % 9]); i += 1
i = 0
for t in range(15):                 # moe: flags, gate, up, down types
    for flags in (0, 4 | 8, 1 | 16, 2 | 8 | 4):
        write("moe", i, [flags, t, (t + 3) % 15, (t + 7) % 15]); i += 1
print("seeds written under", ROOT)
