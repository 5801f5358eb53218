package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * An independent forward pass of a {@link TinyDeepseek} file in double precision, written from the math and not from
 * Panamax's engine: Multi-head Latent Attention in the EXPANDED form (per head k_nope = W_UK c and v = W_UV c from
 * the dequantized attn_k_b / attn_v_b, then ordinary causal multi-head attention with k = [k_nope | k_pe]), MoE
 * routing as llama.cpp's build_moe_ffn (softmax or sigmoid, selection bias, group scores = sum of the two best,
 * top-k, weights from the unbiased probabilities, normalization with the 6.103515625e-5 clamp, scale), RoPE from its
 * formula on adjacent pairs. Hyper-parameters come from the {@link TinyDeepseek.Options} that wrote the file, weights
 * from the file by tensor name, dequantized by the Java backend. No YaRN (the options must not ask for it).
 */
final class DeepseekReference {

    private final TinyDeepseek.Options o;
    private final GgufFile file;
    private final Kernels k;
    private final Arena arena = Arena.ofConfined();
    /** When true, RoPE rotates NeoX pairs (i, i + n/2) instead of adjacent ones: a deliberately wrong variant. */
    boolean neoxRope;

    private DeepseekReference(TinyDeepseek.Options o, GgufFile file, Kernels k) {
        this.o = o;
        this.file = file;
        this.k = k;
    }

    /** Logits [tokens.length][vocab] of the whole sequence. */
    static double[][] logits(Path model, TinyDeepseek.Options o, int[] tokens) throws IOException {
        return logits(model, o, tokens, false);
    }

    static double[][] logits(Path model, TinyDeepseek.Options o, int[] tokens, boolean neoxRope) throws IOException {
        if (o.yarn()) throw new IllegalArgumentException("the reference does not do YaRN");
        try (GgufFile f = GgufFile.open(model); Kernels k = KernelsProvider.javaKernels("reference")) {
            DeepseekReference r = new DeepseekReference(o, f, k);
            r.neoxRope = neoxRope;
            try {
                return r.run(tokens);
            } finally {
                r.arena.close();
            }
        }
    }

    /** The tensor as doubles, ggml order (element (i0, i1, i2) at i0 + ne0·(i1 + ne1·i2)). */
    private double[] tensor(String name) {
        GgufTensor t = file.tensor(name);
        if (t == null) return null;
        long n = t.elementCount();
        int ne0 = (int) t.shape()[0];
        MemorySegment dst = arena.allocate(4L * n, 64);
        k.dequantize(t.type(), dst, t.data(), (int) (n / ne0), ne0);
        double[] d = new double[(int) n];
        for (int i = 0; i < n; i++) d[i] = dst.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        return d;
    }

    /** y = W x for W of ggml shape [cols, rows] stored at offset off (rows of cols). */
    private static double[] mv(double[] w, int off, int rows, int cols, double[] x) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            int base = off + r * cols;
            for (int c = 0; c < cols; c++) s += w[base + c] * x[c];
            y[r] = s;
        }
        return y;
    }

    private static double[] mv(double[] w, int rows, int cols, double[] x) {
        if (w.length != rows * cols) throw new IllegalStateException("weight of " + w.length + " values, expected " + rows + "x" + cols);
        return mv(w, 0, rows, cols, x);
    }

    private static double[] rmsnorm(double[] x, double[] w) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1 / Math.sqrt(ss / x.length + TinyDeepseek.EPS);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * inv * w[i];
        return y;
    }

    private static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }

    /** RoPE at position p on x[off .. off + n): pairs (2i, 2i+1) by angle p · base^(-2i/n). */
    private void rope(double[] x, int off, int n, int p) {
        for (int i = 0; i < n / 2; i++) {
            double theta = p * Math.pow(TinyDeepseek.FREQ_BASE, -2.0 * i / n);
            double c = Math.cos(theta), s = Math.sin(theta);
            int a = neoxRope ? off + i : off + 2 * i, b = neoxRope ? off + i + n / 2 : off + 2 * i + 1;
            double x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }

    private static void addTo(double[] acc, double[] v, double w) {
        for (int i = 0; i < acc.length; i++) acc[i] += w * v[i];
    }

    /** SwiGLU down(silu(gate x) · up x) with matrices at the given offsets (an expert of a stacked tensor). */
    private static double[] swiglu(double[] g, double[] u, double[] d, int off, int offDown, int ff, int dim, double[] x) {
        double[] a = mv(g, off, ff, dim, x), b = mv(u, off, ff, dim, x);
        for (int i = 0; i < ff; i++) a[i] = silu(a[i]) * b[i];
        return mv(d, offDown, dim, ff, a);
    }

    private double[][] run(int[] tokens) {
        final int dim = TinyDeepseek.DIM, nh = TinyDeepseek.HEADS, nope = TinyDeepseek.NOPE, rope = TinyDeepseek.ROPE;
        final int kvl = TinyDeepseek.KV_LORA, vd = TinyDeepseek.V_HEAD, qHead = nope + rope, vocab = TinyDeepseek.VOCAB;
        final int ne = TinyDeepseek.EXPERTS, used = TinyDeepseek.USED, ffe = TinyDeepseek.FFN_EXP;
        final int n = tokens.length;
        final double scale = 1 / Math.sqrt(qHead);
        double[] embd = tensor("token_embd.weight");
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) x[t] = Arrays.copyOfRange(embd, tokens[t] * dim, (tokens[t] + 1) * dim);
        for (int l = 0; l < o.layers(); l++) {
            String b = "blk." + l + ".";
            double[] attnNorm = tensor(b + "attn_norm.weight"), wkvA = tensor(b + "attn_kv_a_mqa.weight");
            double[] kvNorm = tensor(b + "attn_kv_a_norm.weight"), kB = tensor(b + "attn_k_b.weight");
            double[] vB = tensor(b + "attn_v_b.weight"), wo = tensor(b + "attn_output.weight");
            double[] wq = tensor(b + "attn_q.weight"), wqA = tensor(b + "attn_q_a.weight");
            double[] qaNorm = tensor(b + "attn_q_a_norm.weight"), wqB = tensor(b + "attn_q_b.weight");
            // per token: queries [nh][qHead] (q_pe roped), expanded keys [nh][qHead] and values [nh][vd]
            double[][] q = new double[n][], kk = new double[n][], vv = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] h = rmsnorm(x[t], attnNorm);
                q[t] = wq != null ? mv(wq, nh * qHead, dim, h)
                        : mv(wqB, nh * qHead, TinyDeepseek.Q_LORA, rmsnorm(mv(wqA, TinyDeepseek.Q_LORA, dim, h), qaNorm));
                for (int hh = 0; hh < nh; hh++) rope(q[t], hh * qHead + nope, rope, t);
                double[] kv = mv(wkvA, kvl + rope, dim, h);
                double[] c = rmsnorm(Arrays.copyOf(kv, kvl), kvNorm);
                double[] kpe = Arrays.copyOfRange(kv, kvl, kvl + rope);
                rope(kpe, 0, rope, t);
                kk[t] = new double[nh * qHead];
                vv[t] = new double[nh * vd];
                for (int hh = 0; hh < nh; hh++) {
                    // attn_k_b [nope, kv_lora, n_head]: element (d, r, h) is W_UK[h][d][r] (stored transposed)
                    for (int d = 0; d < nope; d++) {
                        double s = 0;
                        for (int r = 0; r < kvl; r++) s += kB[d + nope * (r + kvl * hh)] * c[r];
                        kk[t][hh * qHead + d] = s;
                    }
                    System.arraycopy(kpe, 0, kk[t], hh * qHead + nope, rope);
                    // attn_v_b [kv_lora, v_head, n_head]: element (r, i, h) is W_UV[h][i][r]
                    for (int i = 0; i < vd; i++) {
                        double s = 0;
                        for (int r = 0; r < kvl; r++) s += vB[r + kvl * (i + vd * hh)] * c[r];
                        vv[t][hh * vd + i] = s;
                    }
                }
            }
            for (int t = 0; t < n; t++) {
                double[] att = new double[nh * vd];
                for (int hh = 0; hh < nh; hh++) {
                    double[] sc = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double s = 0;
                        for (int d = 0; d < qHead; d++) s += q[t][hh * qHead + d] * kk[j][hh * qHead + d];
                        sc[j] = s * scale;
                        max = Math.max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) sum += sc[j] = Math.exp(sc[j] - max);
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < vd; i++) att[hh * vd + i] += sc[j] / sum * vv[j][hh * vd + i];
                    }
                }
                addTo(x[t], mv(wo, dim, nh * vd, att), 1);
            }
            double[] ffnNorm = tensor(b + "ffn_norm.weight");
            if (l < o.nDense()) {
                double[] g = tensor(b + "ffn_gate.weight"), u = tensor(b + "ffn_up.weight"), d = tensor(b + "ffn_down.weight");
                for (int t = 0; t < n; t++) addTo(x[t], swiglu(g, u, d, 0, 0, TinyDeepseek.FFN, dim, rmsnorm(x[t], ffnNorm)), 1);
                continue;
            }
            double[] router = tensor(b + "ffn_gate_inp.weight"), bias = tensor(b + "exp_probs_b.bias");
            double[] ge = tensor(b + "ffn_gate_exps.weight"), ue = tensor(b + "ffn_up_exps.weight"), de = tensor(b + "ffn_down_exps.weight");
            double[] gs = tensor(b + "ffn_gate_shexp.weight"), us = tensor(b + "ffn_up_shexp.weight"), ds = tensor(b + "ffn_down_shexp.weight");
            for (int t = 0; t < n; t++) {
                double[] h = rmsnorm(x[t], ffnNorm);
                double[] logit = mv(router, ne, dim, h);
                double[] probs = new double[ne];
                if (o.sigmoid()) {
                    for (int e = 0; e < ne; e++) probs[e] = 1 / (1 + Math.exp(-logit[e]));
                } else {
                    double max = Arrays.stream(logit).max().orElseThrow(), sum = 0;
                    for (int e = 0; e < ne; e++) sum += probs[e] = Math.exp(logit[e] - max);
                    for (int e = 0; e < ne; e++) probs[e] /= sum;
                }
                double[] sel = probs.clone();
                if (bias != null) for (int e = 0; e < ne; e++) sel[e] += bias[e];
                if (o.groups() > 1) {
                    int per = ne / o.groups();
                    double[] gScore = new double[o.groups()];
                    for (int g = 0; g < o.groups(); g++) {
                        double[] members = Arrays.copyOfRange(sel, g * per, (g + 1) * per);
                        Arrays.sort(members);
                        gScore[g] = members[per - 1] + members[per - 2];
                    }
                    boolean[] keep = new boolean[o.groups()];
                    for (int j = 0; j < o.groupsUsed(); j++) keep[argmax(gScore, keep)] = true;
                    for (int g = 0; g < o.groups(); g++) {
                        if (!keep[g]) for (int e = g * per; e < (g + 1) * per; e++) sel[e] = Double.NEGATIVE_INFINITY;
                    }
                }
                boolean[] taken = new boolean[ne];
                int[] chosen = new int[used];
                double wsum = 0;
                for (int j = 0; j < used; j++) {
                    chosen[j] = argmax(sel, taken);
                    taken[chosen[j]] = true;
                    wsum += probs[chosen[j]];
                }
                double[] out = new double[dim];
                for (int j = 0; j < used; j++) {
                    int e = chosen[j];
                    double w = probs[e];
                    if (o.norm()) w /= Math.max(wsum, 6.103515625e-5);
                    if (o.scale() != 0) w *= o.scale();
                    addTo(out, swiglu(ge, ue, de, e * ffe * dim, e * dim * ffe, ffe, dim, h), w);
                }
                if (gs != null) addTo(out, swiglu(gs, us, ds, 0, 0, ffe * o.shared(), dim, h), 1);
                addTo(x[t], out, 1);
            }
        }
        double[] outNorm = tensor("output_norm.weight"), head = tensor("output.weight");
        if (head == null) head = embd;
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) logits[t] = mv(head, vocab, dim, rmsnorm(x[t], outNorm));
        return logits;
    }

    /** Index of the largest value not yet taken (ties: the lower index). */
    private static int argmax(double[] v, boolean[] taken) {
        int best = -1;
        for (int i = 0; i < v.length; i++) if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
        return best;
    }
}
