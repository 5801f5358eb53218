#!/usr/bin/python3
"""Train one of the project's reference models on the KJV corpus and export it as llama.cpp GGUF files.

  train.py --arch llama|deepseek2|draft --out DIR [--steps N] [--seed S]   full run (see MODEL_CARD.md)
  train.py --arch deepseek2 --out DIR --init-from DIR/NAME.pt --mtp-steps N  the MTP layer on the frozen trunk
  train.py --check [--arch A]                                              a few steps on a slice (CI, < 1 min)

Writes DIR/NAME-f32.gguf, DIR/NAME-f16.gguf, DIR/NAME.heldout.json + .logits (the fixture: PyTorch's logits of a
held-out passage, computed in float64 from the F16-rounded weights, i.e. from exactly what the F16 file holds),
DIR/NAME.loss.csv and DIR/NAME.pt. With --mtp-steps (deepseek2), also a DeepSeek-V3 multi-token-prediction
layer trained on the frozen trunk (loss on t+2), exported as llama.cpp's nextn layer, DIR/NAME.mtp.logits (its
fixture) and DIR/NAME.mtp.loss.csv. Deterministic for a given machine and PyTorch build: one thread, fixed seeds,
fixed window order (CPU float sums are not bit-identical across BLAS builds or CPUs, so other machines land close,
not bit-equal).
"""
import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import tokenizer  # noqa: E402
import gguf_read  # noqa: E402
from gguf_write import GgufWriter  # noqa: E402
from model import DeepseekCfg, LlamaCfg, Model, MoE, Mtp, cfg_dict  # noqa: E402

# The shapes of the committed models (MODEL_CARD.md). llama and deepseek2 do the same matmul work per token
# (4.59M vs 4.61M active parameters, tied head included): deepseek2's active FFN is 3 routed + 1 shared expert of 128
# = llama's 512, its MLA about llama's GQA attention; it holds 7.1M parameters in total against llama's 4.6M.
CONFIGS = {
    "llama": LlamaCfg(n_embd=256, n_layer=6, n_head=8, n_head_kv=4, n_ff=512),
    "deepseek2": DeepseekCfg(n_embd=256, n_layer=6, n_head=8, q_lora=128, kv_lora=64, qk_nope=32, qk_rope=16,
                             v_head=32, n_ff=512, n_dense=1, n_expert=8, n_expert_used=3, n_shared=1, n_ff_exp=128),
    # speculative-decoding draft for the llama model: same tokenizer, a fifth of the work per token
    "draft": LlamaCfg(n_embd=128, n_layer=2, n_head=4, n_head_kv=2, n_ff=384),
}
NAMES = {"llama": "kjv-llama-4.6m", "deepseek2": "kjv-deepseek2-7.1m", "draft": "kjv-llama-draft-0.9m"}
BIAS_RATE = 1e-3   # DeepSeek-V3's bias update speed gamma (aux-loss-free balancing)


def encode_chapters(sp, chaps):
    """One stream: every chapter starts with BOS, as a prompt does in llama.cpp (add_bos_token)."""
    out = []
    for c in chaps:
        out.append(sp.bos_id())
        out.extend(sp.encode(c))
    return torch.tensor(out, dtype=torch.long)


def windows(stream, T, n=None):
    """Non-overlapping (T+1)-token windows from the start of a stream (evaluation)."""
    k = (len(stream) - 1) // T
    if n is not None:
        k = min(k, n)
    return torch.stack([stream[i * T:i * T + T + 1] for i in range(k)])


@torch.no_grad()
def evaluate(model, wins, bs=16):
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, len(wins), bs):
        w = wins[i:i + bs]
        logits = model(w[:, :-1])
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum").item()
        n += w[:, 1:].numel()
    model.train()
    return tot / n


def lr_at(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))   # cosine to 10% of the peak


def train(model, train_stream, held_wins, train_wins, a, log_path):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(a.seed + 1)
    T, B = model.c.n_ctx, a.batch
    rows, t0, run, first = [], time.time(), [], 0
    ckpt = log_path[:-len(".loss.csv")] + ".ckpt"
    if a.resume and os.path.exists(ckpt):
        # everything the remaining steps depend on, so a resumed run computes the same bits as an uninterrupted one
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        g.set_state(st["gen"])
        rows, first, t0 = st["rows"], st["step"], time.time() - st["seconds"]
        print("resumed at step %d (%.0fs of training so far)" % (first, st["seconds"]), flush=True)
    for step in range(first, a.steps):
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, a.steps, a.lr, a.warmup)
        starts = torch.randint(0, len(train_stream) - T - 1, (B,), generator=g)
        w = torch.stack([train_stream[s:s + T + 1] for s in starts.tolist()])
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            # auxiliary-loss-free balancing: raise the bias of under-loaded experts, lower it for over-loaded ones
            for m in model.moe_layers():
                load = m.last_load.float()
                m.bias += BIAS_RATE * torch.sign(load.mean() - load)
        run.append(loss.item())
        last = step == a.steps - 1
        if (step + 1) % a.log_every == 0 or last:
            held = evaluate(model, held_wins) if ((step + 1) % a.eval_every == 0 or last) else None
            row = {"step": step + 1, "tokens": (step + 1) * B * T, "train_loss": sum(run) / len(run),
                   "heldout_loss": held, "lr": opt.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1)}
            rows.append(row)
            run = []
            print("step %5d  train %.4f  held %s  lr %.2e  %.0fs" % (row["step"], row["train_loss"],
                  "%.4f" % held if held is not None else "-", row["lr"], row["seconds"]), flush=True)
            if a.ckpt_every and (step + 1) % a.ckpt_every == 0 and not last:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": g.get_state(), "rows": rows,
                            "step": step + 1, "seconds": time.time() - t0}, ckpt + ".tmp")
                os.replace(ckpt + ".tmp", ckpt)
    with open(log_path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    return {"train_loss": evaluate(model, train_wins), "heldout_loss": evaluate(model, held_wins),
            "seconds": round(time.time() - t0, 1)}


def f16_rounded(model):
    """A float64 copy whose matrices hold exactly the F16 file's values (1-D tensors and the router stay F32)."""
    import copy
    m = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() >= 2 and not n.endswith("router.weight"):
                p.copy_(p.half().float())
    return m.to_dtype(torch.float64) if isinstance(m, Model) else m.to(torch.float64)


def mtp_batch(model, mtp, w):
    """Windows w (B, T+1) -> (MTP logits of rows 0..T-2, their targets t_(i+2)); the trunk runs without gradient."""
    with torch.no_grad():
        h = model.hidden(w[:, :-1])
    return mtp(h[:, :-1], w[:, 1:-1], model), w[:, 2:]


def train_mtp(model, mtp, train_stream, a, log_path):
    """DeepSeek-V3's MTP loss (cross-entropy on t+2) for the MTP module alone: the trunk, its embedding and its
    output head stay frozen, so the trunk computes exactly what it computed before. Same optimizer, schedule and
    auxiliary-loss-free expert balancing as the trunk's run."""
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    decay = [p for p in mtp.parameters() if p.dim() >= 2]
    no_decay = [p for p in mtp.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(a.seed + 2)
    T, B = model.c.n_ctx, a.batch
    rows, t0, run = [], time.time(), []
    for step in range(a.mtp_steps):
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, a.mtp_steps, a.lr, a.warmup // 2)
        starts = torch.randint(0, len(train_stream) - T - 1, (B,), generator=g)
        w = torch.stack([train_stream[s:s + T + 1] for s in starts.tolist()])
        logits, target = mtp_batch(model, mtp, w)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mtp.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            load = mtp.block.ffn.last_load.float()
            mtp.block.ffn.bias += BIAS_RATE * torch.sign(load.mean() - load)
        run.append(loss.item())
        if (step + 1) % a.log_every == 0 or step == a.mtp_steps - 1:
            row = {"step": step + 1, "tokens": (step + 1) * B * T, "mtp_loss": sum(run) / len(run),
                   "lr": opt.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1)}
            rows.append(row)
            run = []
            print("mtp step %5d  loss(t+2) %.4f  lr %.2e  %.0fs" % (row["step"], row["mtp_loss"], row["lr"],
                                                                     row["seconds"]), flush=True)
    with open(log_path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    return round(time.time() - t0, 1)


@torch.no_grad()
def evaluate_mtp(model, mtp, wins, bs=16):
    """On held-out windows (teacher forcing): the MTP head's cross-entropy on t+2, its top-1 accuracy against the
    text's t+2, its agreement with the trunk's own top-1 for t+2 (given the text's t+1: what a greedy speculative
    step accepts), and the trunk's top-1 accuracy on t+1 for scale."""
    mtp.eval()
    ce, acc, agree, main_acc, n = 0.0, 0, 0, 0, 0
    for i in range(0, len(wins), bs):
        w = wins[i:i + bs]
        h = model.hidden(w[:, :-1])
        main = (rms_norm_out(model, h)).argmax(-1)                 # trunk's top-1 for positions 1..T
        logits = mtp(h[:, :-1], w[:, 1:-1], model)
        target = w[:, 2:]
        ce += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum").item()
        top = logits.argmax(-1)
        acc += (top == target).sum().item()
        agree += (top == main[:, 1:]).sum().item()
        main_acc += (main[:, 1:] == target).sum().item()
        n += target.numel()
    mtp.train()
    return {"mtp_heldout_loss": ce / n, "mtp_top1_vs_text": acc / n, "mtp_top1_vs_trunk": agree / n,
            "trunk_top1_next": main_acc / n, "mtp_scored": n}


def rms_norm_out(model, h):
    from model import rms_norm
    return rms_norm(h, model.out_norm, model.c.eps) @ model.embd.weight.t()


@torch.no_grad()
def greedy_acceptance(model, mtp, held_stream, n_prompts=8, prompt=32, gen=96):
    """The acceptance rate of one MTP draft token in greedy speculative decoding, measured directly: the trunk
    continues n_prompts held-out prompts greedily; on those sequences the MTP head's top-1 for t+2 is compared with
    the token the trunk generated there (rows whose t+2 the trunk generated)."""
    mtp.eval()
    step = (len(held_stream) - prompt) // n_prompts
    seq = torch.stack([held_stream[i * step:i * step + prompt] for i in range(n_prompts)])
    for _ in range(gen):
        nxt = model(seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat((seq, nxt), 1)
    h = model.hidden(seq)
    top = mtp(h[:, :-1], seq[:, 1:], model).argmax(-1)          # row i predicts seq[i + 2]
    rows = torch.arange(seq.shape[1] - 1)
    sel = rows + 2 >= prompt                                       # t+2 generated by the trunk
    sel &= rows + 2 < seq.shape[1]
    hit = (top[:, :-1][:, sel[:-1]] == seq[:, 2:][:, sel[:-1]])
    mtp.train()
    return {"mtp_greedy_acceptance": hit.float().mean().item(), "greedy_scored": hit.numel()}


def export(model, sp_path, path, f16, name, mtp=None):
    c = model.c
    deepseek = model.is_deepseek
    w = GgufWriter("deepseek2" if deepseek else "llama")
    arch = "deepseek2" if deepseek else "llama"
    w.add("general.name", name)
    w.add("general.license", "public-domain weights trained here on the KJV text; see models/MODEL_CARD.md")
    w.add(arch + ".context_length", c.n_ctx)
    w.add(arch + ".embedding_length", c.n_embd)
    w.add(arch + ".block_count", c.n_layer + (1 if mtp is not None else 0))
    w.add(arch + ".feed_forward_length", c.n_ff)
    w.add(arch + ".attention.head_count", c.n_head)
    w.add(arch + ".rope.freq_base", float(c.rope_base))
    w.add(arch + ".attention.layer_norm_rms_epsilon", float(c.eps))
    w.add(arch + ".vocab_size", c.n_vocab)
    if deepseek:
        w.add(arch + ".attention.head_count_kv", 1)          # MLA is stored as MQA over the latent
        w.add(arch + ".leading_dense_block_count", c.n_dense)
        w.add(arch + ".attention.q_lora_rank", c.q_lora)
        w.add(arch + ".attention.kv_lora_rank", c.kv_lora)
        w.add(arch + ".attention.key_length", c.kv_lora + c.qk_rope)
        w.add(arch + ".attention.value_length", c.kv_lora)
        w.add(arch + ".attention.key_length_mla", c.qk_nope + c.qk_rope)
        w.add(arch + ".attention.value_length_mla", c.v_head)
        w.add(arch + ".expert_feed_forward_length", c.n_ff_exp)
        w.add(arch + ".expert_count", c.n_expert)
        w.add(arch + ".expert_used_count", c.n_expert_used)
        w.add(arch + ".expert_shared_count", c.n_shared)
        w.add(arch + ".expert_weights_scale", float(c.exp_scale))
        w.add(arch + ".expert_weights_norm", True)
        w.add(arch + ".expert_gating_func", 2)                 # sigmoid
        w.add(arch + ".rope.dimension_count", c.qk_rope)
        if mtp is not None:
            w.add(arch + ".nextn_predict_layers", 1)            # the last block is the MTP layer
    else:
        w.add(arch + ".attention.head_count_kv", c.n_head_kv)
        w.add(arch + ".rope.dimension_count", c.n_embd // c.n_head)
    w.add("general.file_type", 1 if f16 else 0)
    for k, v in tokenizer.gguf_vocab(sp_path).items():
        w.add(k, v, 6 if k == "tokenizer.ggml.scores" else (5 if k == "tokenizer.ggml.token_type" else None))

    def t(n, x, keep_f32=False):
        x = x.detach().float().numpy()
        w.tensor(n, x.astype(np.float16) if (f16 and x.ndim >= 2 and not keep_f32) else x.astype(np.float32))

    t("token_embd.weight", model.embd.weight)
    blocks = list(model.blocks) + ([mtp.block] if mtp is not None else [])
    for i, b in enumerate(blocks):
        p = "blk.%d." % i
        if i == c.n_layer:
            # llama.cpp's nextn tensors; embed_tokens and shared_head_head left out: tied to token_embd
            t(p + "nextn.eh_proj.weight", mtp.eh_proj.weight)
            t(p + "nextn.enorm.weight", mtp.enorm)
            t(p + "nextn.hnorm.weight", mtp.hnorm)
            t(p + "nextn.shared_head_norm.weight", mtp.head_norm)
        t(p + "attn_norm.weight", b.attn_norm)
        if deepseek:
            at = b.attn
            t(p + "attn_q_a.weight", at.q_a.weight)
            t(p + "attn_q_a_norm.weight", at.q_a_norm)
            t(p + "attn_q_b.weight", at.q_b.weight)
            t(p + "attn_kv_a_mqa.weight", at.kv_a.weight)
            t(p + "attn_kv_a_norm.weight", at.kv_a_norm)
            kvb = at.kv_b.weight.view(c.n_head, c.qk_nope + c.v_head, c.kv_lora)
            # llama.cpp's split layout: k_b transposed per head (ne {nope, kv_lora, n_head}), v_b as is
            t(p + "attn_k_b.weight", kvb[:, :c.qk_nope, :].transpose(1, 2).contiguous())
            t(p + "attn_v_b.weight", kvb[:, c.qk_nope:, :].contiguous())
            t(p + "attn_output.weight", at.wo.weight)
        else:
            t(p + "attn_q.weight", b.wq.weight)
            t(p + "attn_k.weight", b.wk.weight)
            t(p + "attn_v.weight", b.wv.weight)
            t(p + "attn_output.weight", b.wo.weight)
        t(p + "ffn_norm.weight", b.ffn_norm)
        if isinstance(b.ffn, MoE):
            m = b.ffn
            t(p + "ffn_gate_inp.weight", m.router.weight, keep_f32=True)   # as llama.cpp's converter keeps it
            t(p + "exp_probs_b.bias", m.bias)
            t(p + "ffn_gate_exps.weight", torch.stack([e.gate.weight for e in m.experts]))
            t(p + "ffn_up_exps.weight", torch.stack([e.up.weight for e in m.experts]))
            t(p + "ffn_down_exps.weight", torch.stack([e.down.weight for e in m.experts]))
            t(p + "ffn_gate_shexp.weight", m.shared.gate.weight)
            t(p + "ffn_up_shexp.weight", m.shared.up.weight)
            t(p + "ffn_down_shexp.weight", m.shared.down.weight)
        else:
            t(p + "ffn_gate.weight", b.ffn.gate.weight)
            t(p + "ffn_up.weight", b.ffn.up.weight)
            t(p + "ffn_down.weight", b.ffn.down.weight)
    t("output_norm.weight", model.out_norm)
    w.write(path)


@torch.no_grad()
def load_gguf(model, path):
    """The trunk's weights from a GGUF file this script exported (the inverse of export; an F16 file gives the
    F16-rounded weights, exactly what llama.cpp and Panamax run). Returns the file's general.name."""
    md, ts = gguf_read.read(path)
    c = model.c
    if md["general.architecture"] != ("deepseek2" if model.is_deepseek else "llama"):
        sys.exit("--init-from: %s is a %s file" % (path, md["general.architecture"]))
    used = set()

    def get(name, dst):
        x = torch.from_numpy(ts[name].astype(np.float32))
        if x.shape != dst.shape:
            sys.exit("--init-from: %s has shape %s, the model wants %s" % (name, tuple(x.shape), tuple(dst.shape)))
        dst.copy_(x)
        used.add(name)

    get("token_embd.weight", model.embd.weight)
    get("output_norm.weight", model.out_norm)
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        get(p + "attn_norm.weight", b.attn_norm)
        get(p + "ffn_norm.weight", b.ffn_norm)
        if model.is_deepseek:
            at = b.attn
            for n, dst in (("attn_q_a", at.q_a.weight), ("attn_q_a_norm", at.q_a_norm), ("attn_q_b", at.q_b.weight),
                           ("attn_kv_a_mqa", at.kv_a.weight), ("attn_kv_a_norm", at.kv_a_norm),
                           ("attn_output", at.wo.weight)):
                get(p + n + ".weight", dst)
            kvb = at.kv_b.weight.view(c.n_head, c.qk_nope + c.v_head, c.kv_lora)
            get(p + "attn_k_b.weight", kvb[:, :c.qk_nope, :].transpose(1, 2))
            get(p + "attn_v_b.weight", kvb[:, c.qk_nope:, :])
        else:
            for n, dst in (("attn_q", b.wq), ("attn_k", b.wk), ("attn_v", b.wv), ("attn_output", b.wo)):
                get(p + n + ".weight", dst.weight)
        if isinstance(b.ffn, MoE):
            m = b.ffn
            get(p + "ffn_gate_inp.weight", m.router.weight)
            get(p + "exp_probs_b.bias", m.bias)
            for n, part in (("gate", lambda e: e.gate), ("up", lambda e: e.up), ("down", lambda e: e.down)):
                for e, ex in enumerate(m.experts):
                    get_row = torch.from_numpy(ts[p + "ffn_%s_exps.weight" % n][e].astype(np.float32))
                    part(ex).weight.copy_(get_row)
                used.add(p + "ffn_%s_exps.weight" % n)
                get(p + "ffn_%s_shexp.weight" % n, part(m.shared).weight)
        else:
            for n in ("gate", "up", "down"):
                get(p + "ffn_%s.weight" % n, getattr(b.ffn, n).weight)
    left = [n for n in ts if n not in used and not n.startswith("blk.%d." % c.n_layer)]
    if left:
        sys.exit("--init-from: %s has tensors this model does not: %s" % (path, left[:5]))
    return md["general.name"]


def fixture(model, sp, held_chaps, base, n_tokens, mtp=None):
    """The first verses of the first held-out chapter: whole verses until n_tokens (with BOS) are reached, then
    words dropped from the end until the prompt fits in n_tokens + 24 and the model's context."""
    text = ""
    for v in held_chaps[0].split("\n"):
        text = v if not text else text + "\n" + v
        if 1 + len(sp.encode(text)) >= n_tokens:
            break
    limit = min(n_tokens + 24, model.c.n_ctx)
    while 1 + len(sp.encode(text)) > limit:
        text = text.rsplit(" ", 1)[0]
    ids = [sp.bos_id()] + sp.encode(text)
    ref = f16_rounded(model)
    ref.eval()
    with torch.no_grad():
        logits = ref(torch.tensor([ids]))[0].float().numpy()
        if mtp is not None:
            # the MTP head's logits of rows 0..n-2 (h_i, t_(i+1)) -> t_(i+2), from the F16-rounded trunk's h
            tok = torch.tensor([ids])
            mref = f16_rounded(mtp)
            mref.eval()
            mlog = mref(ref.hidden(tok)[:, :-1], tok[:, 1:], ref)[0].float().numpy()
            mlog.astype("<f4").tofile(base + ".mtp.logits")
    logits.astype("<f4").tofile(base + ".heldout.logits")
    with open(base + ".heldout.json", "w") as f:
        json.dump({"prompt": text, "tokens": ids, "n_vocab": int(logits.shape[1]),
                   "about": "PyTorch logits (float64 math, F16-rounded weights) of every prompt position, "
                            "float32 little-endian [n_tokens][n_vocab] in the .logits file"
                            + ("; NAME.mtp.logits: the MTP (nextn) head's logits of rows 0..n_tokens-2, row i from "
                               "the trunk's hidden state of token i and the embedding of token i+1, predicting "
                               "token i+2, [n_tokens-1][n_vocab]" if mtp is not None else "")}, f, indent=1)
        f.write("\n")
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(CONFIGS), default="llama")
    ap.add_argument("--out", default=None)
    ap.add_argument("--data", default=None, help="corpus dir (made by corpus.py when missing); default OUT/data")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "tokenizer", "kjv-4k.model"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-windows", type=int, default=64, help="held-out windows scored during training (all at the end)")
    ap.add_argument("--mtp-steps", type=int, default=0,
                    help="deepseek2: train a multi-token-prediction (nextn) layer this many steps on the frozen trunk")
    ap.add_argument("--init-from", default=None,
                    help="a trunk checkpoint (NAME.pt of an earlier run) to start from instead of training the trunk")
    ap.add_argument("--ckpt-every", type=int, default=100,
                    help="save OUT/NAME.ckpt every this many steps (a multiple of --log-every; 0: never)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/NAME.ckpt when it exists")
    ap.add_argument("--check", action="store_true", help="CI: tiny model, 6 steps on a slice, export and read back")
    a = ap.parse_args()
    torch.set_num_threads(1)          # the machine's other core belongs to benchmarks and the build
    torch.manual_seed(a.seed)
    cfg = CONFIGS[a.arch]
    tmp = None
    if a.check:
        tmp = tempfile.TemporaryDirectory()
        a.out = a.out or tmp.name
        cfg = type(cfg)(**{**cfg.__dict__, "n_layer": 2})
        a.steps, a.batch, a.warmup, a.log_every, a.eval_every, a.eval_windows = 6, 2, 2, 3, 6, 2
        a.mtp_steps = 3 if a.arch == "deepseek2" else 0
        a.ckpt_every = 3
    if a.out is None:
        ap.error("--out is required")
    if a.ckpt_every % a.log_every:
        ap.error("--ckpt-every must be a multiple of --log-every")
    if a.mtp_steps and a.arch != "deepseek2":
        ap.error("--mtp-steps: only deepseek2 has an MTP layer here")
    os.makedirs(a.out, exist_ok=True)
    data = a.data or os.path.join(a.out, "data")
    train_chaps, held_chaps = corpus.ensure(data)
    if a.check:
        train_chaps, held_chaps = train_chaps[:3], held_chaps[:1]
    sp_path = a.tokenizer
    if not os.path.exists(sp_path):
        sp_path = os.path.join(a.out, "kjv-check" if a.check else "kjv-4k")
        tokenizer.train(data, sp_path, 512 if a.check else 4096)
        sp_path += ".model"
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    cfg.n_vocab = sp.vocab_size()
    train_stream, held_stream = encode_chapters(sp, train_chaps), encode_chapters(sp, held_chaps)
    held_wins = windows(held_stream, cfg.n_ctx)
    train_wins = windows(train_stream, cfg.n_ctx, len(held_wins))
    print("tokens: train %d, held out %d; held-out windows %d" % (len(train_stream), len(held_stream), len(held_wins)))

    model = Model(cfg)
    total, active = model.param_counts()
    print("%s: %s\nparameters %d total, %d active per token" % (a.arch, cfg_dict(cfg), total, active), flush=True)
    name = "check" if a.check else NAMES[a.arch]
    base = os.path.join(a.out, name)
    if a.init_from:
        # the trunk of an earlier run (its NAME.pt bit for bit, or its exported GGUF file); its training figures
        # come from that run's summary (beside the .pt, or runs/NAME.summary.json for a GGUF file)
        if a.init_from.endswith(".gguf"):
            prev_name = load_gguf(model, a.init_from)
            prev_summary = os.path.join(HERE, "runs", prev_name + ".summary.json")
        else:
            ck = torch.load(a.init_from)
            if ck["cfg"] != cfg_dict(cfg):
                sys.exit("--init-from: %s holds another configuration: %s" % (a.init_from, ck["cfg"]))
            model.load_state_dict(ck["state"])
            prev_summary = a.init_from[:-len(".pt")] + ".summary.json"
        with open(prev_summary) as f:
            prev = json.load(f)
        a.steps = prev["steps"]
        res = {"train_loss": prev["final_train_loss"], "seconds": prev["train_seconds"],
               "heldout_loss_all": evaluate(model, held_wins)}
    else:
        res = train(model, train_stream, held_wins[:a.eval_windows], train_wins, a, base + ".loss.csv")
        res["heldout_loss_all"] = evaluate(model, held_wins)
    mtp, mtp_res = None, {}
    if a.mtp_steps:
        torch.manual_seed(a.seed + 3)
        mtp = Mtp(cfg)
        # warm start: the MTP block begins as a copy of the trunk's last block (eh_proj and the norms are new)
        mtp.block.load_state_dict(model.blocks[-1].state_dict())
        secs = train_mtp(model, mtp, train_stream, a, base + ".mtp.loss.csv")
        mtp_res = {"mtp_steps": a.mtp_steps, "mtp_train_seconds": secs, **evaluate_mtp(model, mtp, held_wins),
                   **greedy_acceptance(model, mtp, held_stream, *((2, 8, 8) if a.check else ()))}
        print(json.dumps(mtp_res), flush=True)
    torch.save({"cfg": cfg_dict(cfg), "state": model.state_dict(),
                **({"mtp": mtp.state_dict()} if mtp is not None else {})}, base + ".pt")
    export(model, sp_path, base + "-f32.gguf", False, name, mtp)
    export(model, sp_path, base + "-f16.gguf", True, name, mtp)
    ids = fixture(model, sp, held_chaps, base, 16 if a.check else 40, mtp)
    summary = {"name": name, "config": cfg_dict(cfg), "params_total": total, "params_active": active,
               "steps": a.steps, "batch": a.batch, "seq": cfg.n_ctx, "tokens_seen": a.steps * a.batch * cfg.n_ctx,
               "train_tokens": len(train_stream), "heldout_tokens": len(held_stream), "lr": a.lr, "seed": a.seed,
               "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_name(),
               "final_train_loss": res["train_loss"], "final_heldout_loss": res["heldout_loss_all"],
               "train_seconds": res["seconds"], "fixture_tokens": len(ids)}
    if mtp is not None:
        summary.update(mtp_params=sum(p.numel() for p in mtp.parameters()), **mtp_res)
    with open(base + ".summary.json", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(json.dumps(summary))
    if a.check:
        check_gguf(base + "-f16.gguf", model, mtp is not None)
        # --init-from's reader: the F16 file read back is exactly the F16-rounded model
        back = Model(cfg)
        load_gguf(back, base + "-f16.gguf")
        with torch.no_grad():
            tok = torch.tensor([ids])
            assert torch.equal(back.to_dtype(torch.float64)(tok), f16_rounded(model)(tok)), "GGUF read-back differs"
        print("check ok")


def check_gguf(path, model, mtp=False):
    """Reads the exported file back with a parser of its own: every key skipped by its type, every tensor's extent
    inside the file, and the tensor set the architecture needs."""
    import struct
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:4] == b"GGUF" and struct.unpack_from("<I", buf, 4)[0] == 3
    n_t, n_kv = struct.unpack_from("<QQ", buf, 8)
    pos = 24
    size = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(pos, t):
        if t == 8:
            return pos + 8 + struct.unpack_from("<Q", buf, pos)[0]
        if t == 9:
            et, n = struct.unpack_from("<IQ", buf, pos)
            pos += 12
            for _ in range(n):
                pos = skip_value(pos, et)
            return pos
        return pos + size[t]

    for _ in range(n_kv):
        pos += 8 + struct.unpack_from("<Q", buf, pos)[0]
        pos = skip_value(pos + 4, struct.unpack_from("<I", buf, pos)[0])
    names, ends = set(), []
    for _ in range(n_t):
        ln = struct.unpack_from("<Q", buf, pos)[0]
        names.add(buf[pos + 8:pos + 8 + ln].decode())
        pos += 8 + ln
        nd = struct.unpack_from("<I", buf, pos)[0]
        ne = struct.unpack_from("<%dQ" % nd, buf, pos + 4)
        t, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        ends.append(off + int(np.prod(ne)) * (4 if t == 0 else 2))
    data = pos + (-pos % 32)
    assert data + max(ends) <= len(buf) <= data + max(ends) + 32, "tensor data does not fill the file"
    need = {"token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_down.weight"}
    if model.is_deepseek:
        need |= {"blk.1.attn_k_b.weight", "blk.1.attn_v_b.weight", "blk.1.exp_probs_b.bias", "blk.1.ffn_up_exps.weight"}
    if mtp:
        n = "blk.%d." % model.c.n_layer
        need |= {n + s + ".weight" for s in ("nextn.eh_proj", "nextn.enorm", "nextn.hnorm", "nextn.shared_head_norm",
                                           "attn_kv_a_mqa", "ffn_up_exps")}
    assert need <= names, need - names


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
