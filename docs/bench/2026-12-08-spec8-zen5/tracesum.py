import sys, re, statistics
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith('spec-trace n='): continue
    f = dict(kv.split('=') for kv in line.split()[1:] if '=' in kv and not kv.startswith('k='))
    k = re.search(r' k=([0-9,]+)', line).group(1)
    key = (f['n'], f['cap'])
    rows.setdefault(key, []).append({x: float(f[x]) for x in ('period', 'draft', 'build', 'forward', 'after', 'tokens', 'rows')})
print("| streams | cap | steps | rows | tokens/step | period us | draft us | build us | forward us | after us | rest us | tok/ms |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (n, cap), rs in sorted(rows.items()):
    rs = [r for r in rs if r['period'] > 0]
    m = lambda x: statistics.median(r[x] for r in rs)
    mean = lambda x: statistics.mean(r[x] for r in rs)
    rest = m('period') - m('draft') - m('build') - m('forward') - m('after')
    print(f"| {n} | {cap} | {len(rs)} | {mean('rows'):.2f} | {mean('tokens'):.2f} | {m('period'):.1f} | {m('draft'):.1f} | {m('build'):.1f} | {m('forward'):.1f} | {m('after'):.1f} | {rest:.1f} | {mean('tokens') / m('period') * 1e3:.2f} |")
