#!/usr/bin/env bash
# Sums a spec-trace log (-Dpanamax.specTrace=true; plain or .gz) after its first 200 decode steps: time in plain and
# drafting steps (wall, "period"), the draft passes of drafting steps, the first step of each probe (a drafting step
# after a plain one: its draft passes hold the catch-up on the tokens decoded plain) and later drafting steps whose
# draft passes took over 1.5 ms (catch-up chunks beyond the token budget).
#   docs/bench/2026-12-08-spec9-zen5/probe-cost.sh TRACE
zcat -f "$1" | grep spec-trace | awk 'NR>200{split($4,c,"="); split($7,p,"="); split($8,d,"="); n++; tot+=p[2];
  if(c[2]>0){nd++; dr+=d[2]; dp+=p[2]; if(prev==0){first++; fd+=d[2]} else if (d[2]>1500) {ch++; cd+=d[2]}} else {pp+=p[2]} prev=c[2]}
  END{printf "steps %d (drafting %d) %.0f ms: plain steps %.0f ms, drafting steps %.0f ms, their draft passes %.0f ms; probes %d, first-step draft %.0f ms (%.0f us each); later steps >1.5ms draft %d, %.0f ms\n",
  n, nd, tot/1e3, pp/1e3, dp/1e3, dr/1e3, first, fd/1e3, (first ? fd/first : 0), ch, cd/1e3}'
