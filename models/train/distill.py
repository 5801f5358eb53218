#!/usr/bin/python3
"""Distil the speculative-decoding draft on its target: train the small llama on the target's next-token
distributions (forward KL, KL(p_target || p_draft), on the KJV training windows) instead of on the text's one-hot
tokens, so its top guess agrees with the target's more often (acceptance), not with the text's.

  distill.py --target T.gguf --init D.gguf --out DIR [--steps N] [--kl-weight W]

--init starts from an exported draft (its F16 file: the committed draft's weights); without it the draft starts
from the usual random init. The loss is W * KL + (1 - W) * cross-entropy on the text (W = 1: pure distillation).
Writes DIR/NAME-f16.gguf, -f32.gguf, NAME.heldout.json + .logits (the fixture, as train.py writes it),
NAME.loss.csv and NAME.summary.json, which records the greedy acceptance before and after: the target continues
held-out prompts greedily and the draft's top-1 is compared with the target's token at every generated position
(the first-guess acceptance of greedy speculative decoding, k = 1). One thread, fixed seeds. A file OUT/STOP ends
the run at the next step (it exports what it has; the summary's "steps" says how many ran).
"""
import argparse
import csv
import json
import os
import sys
import time

import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import train as tr  # noqa: E402
from model import LlamaCfg, Model, cfg_dict  # noqa: E402


@torch.no_grad()
def greedy_agreement(target, draft, held_stream, n_prompts=16, prompt=32, gen=64):
    """First-guess acceptance: the target continues n_prompts held-out prompts greedily; the fraction of generated
    positions where the draft's argmax (given the same prefix) is the target's token."""
    target.eval()
    draft.eval()
    step = (len(held_stream) - prompt) // n_prompts
    seq = torch.stack([held_stream[i * step:i * step + prompt] for i in range(n_prompts)])
    for _ in range(gen):
        seq = torch.cat((seq, target(seq)[:, -1].argmax(-1, keepdim=True)), 1)
    guess = draft(seq[:, :-1]).argmax(-1)                       # row i guesses seq[i + 1]
    hit = guess[:, prompt - 1:] == seq[:, prompt:]
    draft.train()
    return hit.float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True)
    ap.add_argument("--init", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="kjv-llama-draft-0.9m-kd")
    ap.add_argument("--data", default=None, help="corpus dir (made by corpus.py when missing); default OUT/data")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "tokenizer", "kjv-4k.model"))
    ap.add_argument("--shape", default="128,2,4,2,384", help="draft n_embd,n_layer,n_head,n_head_kv,n_ff")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--kl-weight", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--log-every", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    data = a.data or os.path.join(a.out, "data")
    train_chaps, held_chaps = corpus.ensure(data)
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)
    train_stream, held_stream = tr.encode_chapters(sp, train_chaps), tr.encode_chapters(sp, held_chaps)

    target = Model(LlamaCfg(**{**tr.CONFIGS["llama"].__dict__, "n_vocab": sp.vocab_size()}))
    tr.load_gguf(target, a.target)
    for p in target.parameters():
        p.requires_grad_(False)
    target.eval()
    e, l, h, hk, ff = (int(x) for x in a.shape.split(","))
    cfg = LlamaCfg(n_embd=e, n_layer=l, n_head=h, n_head_kv=hk, n_ff=ff)
    cfg.n_vocab = sp.vocab_size()
    draft = Model(cfg)
    if a.init:
        tr.load_gguf(draft, a.init)
    held_wins = tr.windows(held_stream, cfg.n_ctx)
    base = os.path.join(a.out, a.name)
    before = {"heldout_loss": tr.evaluate(draft, held_wins), "acceptance": greedy_agreement(target, draft, held_stream)}
    print("before: %s" % json.dumps(before), flush=True)

    decay = [p for p in draft.parameters() if p.dim() >= 2]
    no_decay = [p for p in draft.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(a.seed + 1)
    T, B = cfg.n_ctx, a.batch
    rows, run, t0 = [], [], time.time()
    stop = os.path.join(a.out, "STOP")
    for step in range(a.steps):
        if os.path.exists(stop):   # the run ends here and exports what it has (the summary records the steps run)
            a.steps = step
            break
        for pg in opt.param_groups:
            pg["lr"] = tr.lr_at(step, a.steps, a.lr, a.warmup)
        starts = torch.randint(0, len(train_stream) - T - 1, (B,), generator=g)
        w = torch.stack([train_stream[s:s + T + 1] for s in starts.tolist()])
        with torch.no_grad():
            p_t = F.log_softmax(target(w[:, :-1]), -1).reshape(-1, cfg.n_vocab)
        logq = F.log_softmax(draft(w[:, :-1]), -1).reshape(-1, cfg.n_vocab)
        kl = F.kl_div(logq, p_t, log_target=True, reduction="batchmean")
        loss = kl if a.kl_weight == 1 else a.kl_weight * kl + (1 - a.kl_weight) * F.nll_loss(logq, w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(draft.parameters(), 1.0)
        opt.step()
        run.append(kl.item())
        if (step + 1) % a.log_every == 0 or step == a.steps - 1:
            rows.append({"step": step + 1, "tokens": (step + 1) * B * T, "kl": sum(run) / len(run),
                         "lr": opt.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1)})
            run = []
            print("step %5d  kl %.4f  lr %.2e  %.0fs" % (rows[-1]["step"], rows[-1]["kl"], rows[-1]["lr"],
                                                         rows[-1]["seconds"]), flush=True)
    secs = round(time.time() - t0, 1)
    if run:
        rows.append({"step": a.steps, "tokens": a.steps * B * T, "kl": sum(run) / len(run),
                     "lr": opt.param_groups[0]["lr"], "seconds": secs})
    with open(base + ".loss.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    after = {"heldout_loss": tr.evaluate(draft, held_wins), "acceptance": greedy_agreement(target, draft, held_stream)}
    print("after: %s" % json.dumps(after), flush=True)
    tr.export(draft, a.tokenizer, base + "-f32.gguf", False, a.name)
    tr.export(draft, a.tokenizer, base + "-f16.gguf", True, a.name)
    ids = tr.fixture(draft, sp, held_chaps, base, 40)
    total, active = draft.param_counts()
    summary = {"name": a.name, "config": cfg_dict(cfg), "params_total": total, "target": os.path.basename(a.target),
               "init": os.path.basename(a.init) if a.init else None, "steps": a.steps, "batch": B, "seq": T,
               "tokens_seen": a.steps * B * T, "lr": a.lr, "kl_weight": a.kl_weight, "seed": a.seed,
               "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": tr.cpu_name(),
               "train_seconds": secs, "before": before, "final_heldout_loss": after["heldout_loss"],
               "greedy_acceptance": after["acceptance"], "fixture_tokens": len(ids)}
    with open(base + ".summary.json", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
