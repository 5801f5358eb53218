"""PyTorch definitions of the two architectures, written to compute exactly what llama.cpp computes from the GGUF.

Both use llama.cpp's "normal" RoPE (adjacent pairs (x[2i], x[2i+1]) rotated by pos * base^(-2i/n_rot)), the mode
llama.cpp uses for `llama` and `deepseek2`: trained this way, the weights export without the Q/K row permutation
that HF-style (rotate_half) checkpoints need. Norms are RMSNorm with the file's epsilon; the output head is tied
to the token embedding (no output.weight), which llama.cpp and Panamax both support.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LlamaCfg:
    n_vocab: int = 4096
    n_embd: int = 256
    n_layer: int = 6
    n_head: int = 8
    n_head_kv: int = 4
    n_ff: int = 768
    n_ctx: int = 256          # training window; the GGUF advertises it as context_length
    rope_base: float = 10000.0
    eps: float = 1e-5


@dataclass
class DeepseekCfg:
    n_vocab: int = 4096
    n_embd: int = 256
    n_layer: int = 6
    n_head: int = 8
    q_lora: int = 128
    kv_lora: int = 64
    qk_nope: int = 32
    qk_rope: int = 16
    v_head: int = 32
    n_ff: int = 768           # the dense first layer
    n_dense: int = 1
    n_expert: int = 8
    n_expert_used: int = 2
    n_shared: int = 1
    n_ff_exp: int = 256
    exp_scale: float = 2.5    # DeepSeek-V3's routed_scaling_factor
    n_ctx: int = 256
    rope_base: float = 10000.0
    eps: float = 1e-6


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(n_rot, n_ctx, base, dtype):
    inv = base ** (-torch.arange(0, n_rot, 2, dtype=torch.float64) / n_rot)
    ang = torch.arange(n_ctx, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def rope(x, cos, sin):
    """x (B, T, H, n_rot): adjacent pairs rotated (llama.cpp's GGML_ROPE_TYPE_NORM)."""
    T = x.shape[1]
    c, s = cos[:T, None, :], sin[:T, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class SwiGLU(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


def causal_attention(q, k, v, scale):
    """q (B, T, H, Dk), k (B, T, H, Dk), v (B, T, H, Dv) -> (B, T, H*Dv)."""
    B, T, H, _ = q.shape
    att = torch.einsum("bthd,bshd->bhts", q, k) * scale
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    return torch.einsum("bhts,bshd->bthd", att, v).reshape(B, T, -1)


class LlamaBlock(nn.Module):
    def __init__(self, c: LlamaCfg):
        super().__init__()
        hd = c.n_embd // c.n_head
        self.c, self.hd = c, hd
        self.attn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.wq = nn.Linear(c.n_embd, c.n_head * hd, bias=False)
        self.wk = nn.Linear(c.n_embd, c.n_head_kv * hd, bias=False)
        self.wv = nn.Linear(c.n_embd, c.n_head_kv * hd, bias=False)
        self.wo = nn.Linear(c.n_head * hd, c.n_embd, bias=False)
        self.ffn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.ffn = SwiGLU(c.n_embd, c.n_ff)

    def forward(self, x, cos, sin):
        c, B, T = self.c, x.shape[0], x.shape[1]
        h = rms_norm(x, self.attn_norm, c.eps)
        q = rope(self.wq(h).view(B, T, c.n_head, self.hd), cos, sin)
        k = rope(self.wk(h).view(B, T, c.n_head_kv, self.hd), cos, sin)
        v = self.wv(h).view(B, T, c.n_head_kv, self.hd)
        g = c.n_head // c.n_head_kv          # query head h reads KV head h // g, as ggml's broadcast does
        k, v = k.repeat_interleave(g, dim=2), v.repeat_interleave(g, dim=2)
        x = x + self.wo(causal_attention(q, k, v, 1.0 / math.sqrt(self.hd)))
        return x + self.ffn(rms_norm(x, self.ffn_norm, c.eps))


class MLA(nn.Module):
    """Multi-head Latent Attention in the expanded (training) form; llama.cpp runs the same weights absorbed."""

    def __init__(self, c: DeepseekCfg):
        super().__init__()
        self.c = c
        self.q_a = nn.Linear(c.n_embd, c.q_lora, bias=False)
        self.q_a_norm = nn.Parameter(torch.ones(c.q_lora))
        self.q_b = nn.Linear(c.q_lora, c.n_head * (c.qk_nope + c.qk_rope), bias=False)
        self.kv_a = nn.Linear(c.n_embd, c.kv_lora + c.qk_rope, bias=False)   # attn_kv_a_mqa
        self.kv_a_norm = nn.Parameter(torch.ones(c.kv_lora))
        # kv_b as in HF DeepSeek: rows per head [k_nope (qk_nope) | v (v_head)]; exported split into attn_k_b/attn_v_b
        self.kv_b = nn.Linear(c.kv_lora, c.n_head * (c.qk_nope + c.v_head), bias=False)
        self.wo = nn.Linear(c.n_head * c.v_head, c.n_embd, bias=False)

    def forward(self, x, cos, sin):
        c, B, T = self.c, x.shape[0], x.shape[1]
        q = self.q_b(rms_norm(self.q_a(x), self.q_a_norm, c.eps)).view(B, T, c.n_head, c.qk_nope + c.qk_rope)
        q_nope, q_pe = q[..., :c.qk_nope], rope(q[..., c.qk_nope:], cos, sin)
        kv = self.kv_a(x)
        latent = rms_norm(kv[..., :c.kv_lora], self.kv_a_norm, c.eps)
        k_pe = rope(kv[..., c.kv_lora:].view(B, T, 1, c.qk_rope), cos, sin)   # one RoPE key shared by all heads
        kvb = self.kv_b(latent).view(B, T, c.n_head, c.qk_nope + c.v_head)
        k_nope, v = kvb[..., :c.qk_nope], kvb[..., c.qk_nope:]
        qf = torch.cat((q_nope, q_pe), -1)
        kf = torch.cat((k_nope, k_pe.expand(B, T, c.n_head, c.qk_rope)), -1)
        return self.wo(causal_attention(qf, kf, v, 1.0 / math.sqrt(c.qk_nope + c.qk_rope)))


class MoE(nn.Module):
    """DeepSeek-V3 routing: sigmoid affinities; the bias (exp_probs_b) only steers which experts are chosen and is
    adjusted outside the gradient (auxiliary-loss-free balancing); the chosen affinities, normalized to sum 1 and
    scaled by exp_scale, weight the experts; one shared expert always runs."""

    def __init__(self, c: DeepseekCfg):
        super().__init__()
        self.c = c
        self.router = nn.Linear(c.n_embd, c.n_expert, bias=False)      # ffn_gate_inp
        self.register_buffer("bias", torch.zeros(c.n_expert))          # exp_probs_b
        self.experts = nn.ModuleList(SwiGLU(c.n_embd, c.n_ff_exp) for _ in range(c.n_expert))
        self.shared = SwiGLU(c.n_embd, c.n_ff_exp * c.n_shared)
        self.last_load = None

    def forward(self, x):
        c, shp = self.c, x.shape
        x = x.reshape(-1, shp[-1])
        s = torch.sigmoid(self.router(x))
        sel = torch.topk(s + self.bias, c.n_expert_used, dim=-1).indices
        w = s.gather(-1, sel)
        w = w / w.sum(-1, keepdim=True) * c.exp_scale
        # one gather of (token, slot) pairs sorted by expert, one matmul chain per expert on a contiguous slice, one
        # scatter back: the same sum as a loop of masked updates, with far fewer copies of activations
        flat = sel.flatten()
        order = torch.argsort(flat, stable=True)
        tok = torch.div(order, c.n_expert_used, rounding_mode="floor")
        xs, ws = x[tok], w.flatten()[order, None]
        counts = torch.bincount(flat, minlength=c.n_expert).tolist()
        outs = [self.experts[e](part) for e, part in enumerate(torch.split(xs, counts)) if counts[e]]
        y = self.shared(x).index_add(0, tok, torch.cat(outs) * ws)
        self.last_load = torch.bincount(sel.flatten(), minlength=c.n_expert).detach()
        return y.view(shp)


class DeepseekBlock(nn.Module):
    def __init__(self, c: DeepseekCfg, i):
        super().__init__()
        self.c = c
        self.attn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.attn = MLA(c)
        self.ffn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.ffn = SwiGLU(c.n_embd, c.n_ff) if i < c.n_dense else MoE(c)

    def forward(self, x, cos, sin):
        x = x + self.attn(rms_norm(x, self.attn_norm, self.c.eps), cos, sin)
        return x + self.ffn(rms_norm(x, self.ffn_norm, self.c.eps))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.is_deepseek = isinstance(c, DeepseekCfg)
        self.embd = nn.Embedding(c.n_vocab, c.n_embd)
        self.blocks = nn.ModuleList(
            DeepseekBlock(c, i) if self.is_deepseek else LlamaBlock(c) for i in range(c.n_layer))
        self.out_norm = nn.Parameter(torch.ones(c.n_embd))
        n_rot = c.qk_rope if self.is_deepseek else c.n_embd // c.n_head
        cos, sin = rope_tables(n_rot, c.n_ctx, c.rope_base, torch.float32)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._init()

    def _init(self):
        # GPT-2 style: N(0, 0.02), residual output projections scaled down by sqrt(2 * n_layer)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * self.c.n_layer) if n.endswith(("wo.weight", "down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def to_dtype(self, dtype):
        self.to(dtype)
        n_rot = self.cos.shape[1] * 2
        self.cos, self.sin = rope_tables(n_rot, self.c.n_ctx, self.c.rope_base, dtype)
        return self

    def hidden(self, tok):
        """The last block's output before the final norm: what llama.cpp calls h_nextn, the MTP module's input."""
        x = self.embd(tok)
        for b in self.blocks:
            x = b(x, self.cos, self.sin)
        return x

    def forward(self, tok):
        return rms_norm(self.hidden(tok), self.out_norm, self.c.eps) @ self.embd.weight.t()

    def moe_layers(self):
        return [b.ffn for b in self.blocks if isinstance(getattr(b, "ffn", None), MoE)]

    def param_counts(self):
        """(total, active per token) parameters; active counts the experts a token runs and excludes the embedding
        lookup but includes the tied output head (it is a matmul per token)."""
        total = sum(p.numel() for p in self.parameters())
        active = total - self.embd.weight.numel() + self.embd.weight.numel()
        for m in self.moe_layers():
            per = sum(p.numel() for p in m.experts[0].parameters())
            active -= per * (self.c.n_expert - self.c.n_expert_used)
        return total, active


class Mtp(nn.Module):
    """DeepSeek-V3's multi-token prediction module of depth 1 (llama.cpp's `nextn` layer): row i combines the trunk's
    hidden state h_i (before the final norm) with the embedding of token t_(i+1),
        x_i = eh_proj [enorm(E t_(i+1)) ; hnorm(h_i)]      (embedding first, as llama.cpp concatenates)
    runs one more deepseek2 block over the rows (MLA with its own cache, MoE feed-forward) and predicts t_(i+2) through
    its own norm (shared_head_norm) and the model's output head; the embedding and the head are the trunk's (tied,
    so the file holds no nextn.embed_tokens / nextn.shared_head_head and llama.cpp falls back to token_embd)."""

    def __init__(self, c: DeepseekCfg):
        super().__init__()
        self.c = c
        self.enorm = nn.Parameter(torch.ones(c.n_embd))
        self.hnorm = nn.Parameter(torch.ones(c.n_embd))
        self.eh_proj = nn.Linear(2 * c.n_embd, c.n_embd, bias=False)
        self.block = DeepseekBlock(c, c.n_layer)              # index n_layer >= n_dense: an MoE block
        self.head_norm = nn.Parameter(torch.ones(c.n_embd))   # shared_head_norm
        nn.init.normal_(self.eh_proj.weight, 0.0, 0.02)

    def forward(self, h, tok_next, trunk):
        """h (B, T, d): the trunk's hidden states of positions 0..T-1; tok_next (B, T): the tokens of positions
        1..T. Row i sits at RoPE position i (llama.cpp's MTP context puts it at i + 1: the same relative positions,
        so the same attention). Returns the logits of t_(i+2), (B, T, n_vocab)."""
        c = self.c
        e = trunk.embd(tok_next)
        x = self.eh_proj(torch.cat((rms_norm(e, self.enorm, c.eps), rms_norm(h, self.hnorm, c.eps)), -1))
        x = self.block(x, trunk.cos, trunk.sin)
        return rms_norm(x, self.head_norm, c.eps) @ trunk.embd.weight.t()


def cfg_dict(c):
    return dict(arch="deepseek2" if isinstance(c, DeepseekCfg) else "llama", **asdict(c))
