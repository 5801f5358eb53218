import json, sys
names = {
 'aa1': ('llama, held-out', 1, 'A/A (two plain engines)'),
 'draft1': ('llama, held-out', 1, 'draft, adaptive (Q8_0 at load)'),
 'draft1-k2': ('llama, held-out', 1, 'draft, fixed k = 2 (Q8_0 at load)'),
 'draft1-f16-k2': ('llama, held-out', 1, 'draft, fixed k = 2, F16 as it is (`--no-spec-draft-q8`)'),
 'ngram-copy1': ('llama, copy', 1, 'ngram, adaptive'),
 'ngram-held1': ('llama, held-out', 1, 'ngram, adaptive'),
 'aa-ds1': ('deepseek2, held-out', 1, 'A/A'),
 'mtp1': ('deepseek2, held-out', 1, 'mtp, adaptive'),
 'mtp1-fixed': ('deepseek2, held-out', 1, 'mtp, fixed'),
 'aa4': ('llama, held-out', 4, 'A/A'), 'draft4': ('llama, held-out', 4, 'draft, adaptive'),
 'ngram4': ('llama, copy', 4, 'ngram, adaptive'), 'mtp4': ('deepseek2, held-out', 4, 'mtp, adaptive'),
 'aa8': ('llama, held-out', 8, 'A/A'), 'draft8': ('llama, held-out', 8, 'draft, adaptive'),
 'ngram8': ('llama, copy', 8, 'ngram, adaptive'), 'mtp8': ('deepseek2, held-out', 8, 'mtp, adaptive'),
}
print("| model, prompt | streams | spec | vs off (median of pairs; lowest-highest) | acceptance | tokens per verify pass | tokens from drafting steps | load |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for l in open(sys.argv[1]):
    l = l.strip()
    if not l.startswith('{'): continue
    o = json.loads(l)
    c, n, sp = names.get(o['row'], (o['row'], o.get('streams', ''), ''))
    if o.get('error'):
        print(f"| {c} | {n} | {sp} | failed | | | | |"); continue
    aa = sp.startswith('A/A')
    acc = '' if aa else f"{o['acc']:.2f}"
    tpp = '' if aa else f"{o['tpp']:.2f}"
    fd = '' if aa else f"{100 * o['from_drafting']:.0f}%"
    print(f"| {c} | {n} | {sp} | {o['vs']:.2f}x ({o['lo']:.2f}-{o['hi']:.2f}) | {acc} | {tpp} | {fd} | {o['load']} |")
