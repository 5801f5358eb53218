package dev.panamax.model;

import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Test fixture: tiny random-weight {@code deepseek2} GGUF files (MLA + MoE) written with Panamax's own writer, with
 * the tensor names, ggml shapes and metadata keys of llama.cpp's current converter (as the reference toolkit's
 * make_tiny_gguf.py write_deepseek2 writes them): attn_k_b [nope, kv_lora, n_head], attn_v_b [kv_lora, v_head,
 * n_head], ffn_*_exps [n_embd, n_ff_exp, n_expert], ffn_down_exps [n_ff_exp, n_embd, n_expert], key_length /
 * value_length describing the latent MQA view and key_length_mla / value_length_mla the per-head sizes. The SPM
 * vocabulary of {@link TinyModels}. No reference toolkit needed.
 *
 * <p>A quantized file keeps a tensor whose rows are not a multiple of the type's block in F16 (attn_k_b with rows of
 * nope = 16 under Q8_0), as llama.cpp's quantizer falls back; norms, biases and the router stay F32.
 */
public final class TinyDeepseek {
    public static final int DIM = 64, HEADS = 4, Q_LORA = 32, KV_LORA = 32, NOPE = 16, ROPE = 16, V_HEAD = 16;
    public static final int FFN = 96, FFN_EXP = 32, EXPERTS = 8, USED = 2, VOCAB = TinyModels.VOCAB, CTX = 128;
    public static final float EPS = 1e-6f, FREQ_BASE = 10000f;

    private TinyDeepseek() {}

    /** What to write; fluent copies. Defaults: 3 layers (1 dense), q_lora, softmax routing, 1 shared expert, F32. */
    public record Options(int layers, int nDense, boolean qLora, boolean sigmoid, boolean probsBias, int groups,
                          int groupsUsed, int shared, boolean norm, float scale, boolean yarn, GgmlType type,
                          boolean tied, long seed, String omit, Map<String, long[]> shapes, Map<String, Object> meta) {

        public static Options defaults() {
            return new Options(3, 1, true, false, false, 1, 1, 1, false, 1f, false, GgmlType.F32, false, 1, null,
                    Map.of(), Map.of());
        }

        /** DeepSeek-V2-Lite style: no q_lora, softmax routing, no normalization. */
        public Options v2Lite() {
            return withQLora(false).withGating(false, false);
        }

        /** DeepSeek-V3 style: q_lora, sigmoid routing with selection bias, normalized weights scaled by 2.5, 4 groups of 2 (2 used). */
        public Options v3() {
            return withQLora(true).withGating(true, true).withNorm(true, 2.5f).withGroups(4, 2);
        }

        public Options withLayers(int layers, int nDense) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        public Options withQLora(boolean on) {
            return new Options(layers, nDense, on, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        /** Softmax (false) or sigmoid (true) gating; {@code bias}: an exp_probs_b selection bias per MoE layer. */
        public Options withGating(boolean sigmoid, boolean bias) {
            return new Options(layers, nDense, qLora, sigmoid, bias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        public Options withGroups(int groups, int used) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, used, shared, norm, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        public Options withShared(int n) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, n, norm, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        public Options withNorm(boolean on, float scale) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, on, scale, yarn, type, tied, seed, omit, shapes, meta);
        }

        /** YaRN keys as the converter writes them for DeepSeek (factor 40, original context 4096, log multiplier 0.1). */
        public Options withYarn(boolean on) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, on, type, tied, seed, omit, shapes, meta);
        }

        public Options withType(GgmlType t) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, t, tied, seed, omit, shapes, meta);
        }

        public Options withTied(boolean on) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, on, seed, omit, shapes, meta);
        }

        public Options withSeed(long s) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, s, omit, shapes, meta);
        }

        /** Leaves out the tensor named {@code name}. */
        public Options omitting(String name) {
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, name, shapes, meta);
        }

        /** Writes tensor {@code name} with this ggml shape instead of the right one. */
        public Options reshaping(String name, long... shape) {
            Map<String, long[]> m = new HashMap<>(shapes);
            m.put(name, shape);
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, omit, Map.copyOf(m), meta);
        }

        /** Overrides a metadata key (deepseek2.* without the prefix when it starts with '.'): Integer UINT32, Float, Boolean, String; "" removes it. */
        public Options withMeta(String key, Object value) {
            Map<String, Object> m = new HashMap<>(meta);
            m.put(key.startsWith(".") ? "deepseek2" + key : key, value);
            return new Options(layers, nDense, qLora, sigmoid, probsBias, groups, groupsUsed, shared, norm, scale, yarn, type, tied, seed, omit, shapes, Map.copyOf(m));
        }

        /** The type a 2-D/3-D weight with rows of {@code cols} values is written in. */
        public GgmlType typeFor(long cols) {
            return cols % type.blockSize() == 0 ? type : GgmlType.F16;
        }

        String fileName() {
            StringBuilder s = new StringBuilder("ds2-").append(layers).append('-').append(nDense).append(qLora ? "-qlora" : "-noq")
                    .append(sigmoid ? "-sig" : "-soft").append(probsBias ? "b" : "").append("-g").append(groups).append('_').append(groupsUsed)
                    .append("-sh").append(shared).append(norm ? "-norm" : "").append("-s").append(scale).append(yarn ? "-yarn" : "")
                    .append('-').append(type).append(tied ? "-tied" : "").append('-').append(seed);
            if (omit != null) s.append("-no-").append(omit);
            shapes.keySet().stream().sorted().forEach(k -> s.append("-shape-").append(k).append(Arrays.toString(shapes.get(k))));
            meta.keySet().stream().sorted().forEach(k -> s.append("-meta-").append(k).append('=').append(meta.get(k)));
            return s.toString().replaceAll("[^A-Za-z0-9._=-]", "_") + ".gguf";
        }
    }

    public static Path write(Path dir, Options o) throws IOException {
        Path f = dir.resolve(o.fileName());
        String a = "deepseek2.";
        Map<String, Object[]> md = new LinkedHashMap<>(); // key -> {type, value}
        md.put("general.architecture", new Object[] {GgufValueType.STRING, "deepseek2"});
        md.put("general.name", new Object[] {GgufValueType.STRING, "tiny-deepseek2"});
        md.put(a + "context_length", u32(CTX));
        md.put(a + "embedding_length", u32(DIM));
        md.put(a + "block_count", u32(o.layers()));
        md.put(a + "feed_forward_length", u32(FFN));
        md.put(a + "attention.head_count", u32(HEADS));
        md.put(a + "attention.head_count_kv", u32(1)); // MLA is stored as MQA with one big KV head
        md.put(a + "rope.freq_base", f32(FREQ_BASE));
        md.put(a + "attention.layer_norm_rms_epsilon", f32(EPS));
        md.put(a + "leading_dense_block_count", u32(o.nDense()));
        md.put(a + "vocab_size", u32(VOCAB));
        if (o.qLora()) md.put(a + "attention.q_lora_rank", u32(Q_LORA));
        md.put(a + "attention.kv_lora_rank", u32(KV_LORA));
        md.put(a + "attention.key_length", u32(KV_LORA + ROPE));
        md.put(a + "attention.value_length", u32(KV_LORA));
        md.put(a + "attention.key_length_mla", u32(NOPE + ROPE));
        md.put(a + "attention.value_length_mla", u32(V_HEAD));
        md.put(a + "expert_feed_forward_length", u32(FFN_EXP));
        md.put(a + "expert_count", u32(EXPERTS));
        md.put(a + "expert_used_count", u32(USED));
        md.put(a + "expert_shared_count", u32(o.shared()));
        md.put(a + "expert_weights_scale", f32(o.scale()));
        md.put(a + "expert_weights_norm", new Object[] {GgufValueType.BOOL, o.norm()});
        md.put(a + "expert_gating_func", u32(o.sigmoid() ? 2 : 1));
        if (o.groups() > 1) {
            md.put(a + "expert_group_count", u32(o.groups()));
            md.put(a + "expert_group_used_count", u32(o.groupsUsed()));
        }
        md.put(a + "rope.dimension_count", u32(ROPE));
        if (o.yarn()) {
            md.put(a + "rope.scaling.type", new Object[] {GgufValueType.STRING, "yarn"});
            md.put(a + "rope.scaling.factor", f32(40f));
            md.put(a + "rope.scaling.original_context_length", u32(4096));
            md.put(a + "rope.scaling.yarn_log_multiplier", f32(0.1f));
        }
        md.put("general.file_type", u32(o.type() == GgmlType.F32 ? 0 : 1));
        for (Map.Entry<String, Object> e : o.meta().entrySet()) {
            Object v = e.getValue();
            if (v instanceof String s && s.isEmpty()) md.remove(e.getKey());
            else md.put(e.getKey(), switch (v) {
                case Integer i -> u32(i);
                case Float x -> f32(x);
                case Boolean b -> new Object[] {GgufValueType.BOOL, b};
                case String s -> new Object[] {GgufValueType.STRING, s};
                default -> throw new IllegalArgumentException("metadata value " + v);
            });
        }

        List<String> tokens = TinyModels.vocab();
        float[] scores = new float[VOCAB];
        int[] types = new int[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
            scores[i] = i < 259 ? 0f : -(i - 259) * 0.1f - tokens.get(i).length() * 0.01f;
        }
        Random rnd = new Random(o.seed());
        try (Arena arena = Arena.ofConfined(); Kernels k = KernelsProvider.javaKernels("fixture")) {
            GgufWriter w = new GgufWriter();
            for (Map.Entry<String, Object[]> e : md.entrySet()) w.put(e.getKey(), (GgufValueType) e.getValue()[0], e.getValue()[1]);
            w.putString("tokenizer.ggml.model", "llama")
                    .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens.toArray(new String[0]))
                    .putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores)
                    .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types)
                    .putUInt32("tokenizer.ggml.bos_token_id", 1)
                    .putUInt32("tokenizer.ggml.eos_token_id", 2)
                    .putUInt32("tokenizer.ggml.unknown_token_id", 0)
                    .putBool("tokenizer.ggml.add_bos_token", true);
            // std < 0: a norm weight around 1; weights: std / sqrt(row length) keeps activations near unit scale
            Adder add = (name, quantized, std, shape) -> {
                if (name.equals(o.omit())) return;
                if (o.shapes().containsKey(name)) shape = o.shapes().get(name);
                long count = 1;
                for (long s : shape) count *= s;
                int n = (int) shape[0], rows = (int) (count / n);
                MemorySegment fl = arena.allocate(4L * count, 64);
                double sd = std < 0 ? 0.1 : std / Math.sqrt(n);
                for (long i = 0; i < count; i++) {
                    float v = (float) (rnd.nextGaussian() * sd + (std < 0 ? 1 : 0));
                    fl.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                }
                GgmlType t = quantized ? o.typeFor(n) : GgmlType.F32;
                MemorySegment data = fl;
                if (t != GgmlType.F32) {
                    data = arena.allocate(t.rowBytes(n) * rows, 64);
                    k.quantize(t, data, fl, rows, n);
                }
                w.addTensor(name, t, shape, data);
            };
            int qHead = NOPE + ROPE;
            add.add("token_embd.weight", true, 8f, DIM, VOCAB); // std 1 per element
            for (int l = 0; l < o.layers(); l++) {
                String b = "blk." + l + ".";
                add.add(b + "attn_norm.weight", false, -1, DIM);
                if (o.qLora()) {
                    add.add(b + "attn_q_a.weight", true, 1f, DIM, Q_LORA);
                    add.add(b + "attn_q_a_norm.weight", false, -1, Q_LORA);
                    add.add(b + "attn_q_b.weight", true, 1.5f, Q_LORA, (long) HEADS * qHead);
                } else {
                    add.add(b + "attn_q.weight", true, 1.5f, DIM, (long) HEADS * qHead);
                }
                add.add(b + "attn_kv_a_mqa.weight", true, 1f, DIM, KV_LORA + ROPE);
                add.add(b + "attn_kv_a_norm.weight", false, -1, KV_LORA);
                add.add(b + "attn_k_b.weight", true, 1.5f * (float) Math.sqrt((double) NOPE / KV_LORA), NOPE, KV_LORA, HEADS);
                add.add(b + "attn_v_b.weight", true, 1f, KV_LORA, V_HEAD, HEADS);
                add.add(b + "attn_output.weight", true, 0.5f, (long) HEADS * V_HEAD, DIM);
                add.add(b + "ffn_norm.weight", false, -1, DIM);
                if (l < o.nDense()) {
                    add.add(b + "ffn_gate.weight", true, 1f, DIM, FFN);
                    add.add(b + "ffn_up.weight", true, 1f, DIM, FFN);
                    add.add(b + "ffn_down.weight", true, 0.5f, FFN, DIM);
                } else {
                    add.add(b + "ffn_gate_inp.weight", false, 2f, DIM, EXPERTS);
                    if (o.probsBias()) add.add(b + "exp_probs_b.bias", false, 0.1f, EXPERTS);
                    add.add(b + "ffn_gate_exps.weight", true, 1f, DIM, FFN_EXP, EXPERTS);
                    add.add(b + "ffn_up_exps.weight", true, 1f, DIM, FFN_EXP, EXPERTS);
                    add.add(b + "ffn_down_exps.weight", true, 0.5f, FFN_EXP, DIM, EXPERTS);
                    if (o.shared() > 0) {
                        add.add(b + "ffn_gate_shexp.weight", true, 1f, DIM, (long) FFN_EXP * o.shared());
                        add.add(b + "ffn_up_shexp.weight", true, 1f, DIM, (long) FFN_EXP * o.shared());
                        add.add(b + "ffn_down_shexp.weight", true, 0.5f, (long) FFN_EXP * o.shared(), DIM);
                    }
                }
            }
            add.add("output_norm.weight", false, -1, DIM);
            if (!o.tied()) add.add("output.weight", true, 3f, DIM, VOCAB);
            w.write(f);
        }
        return f;
    }

    /** KV cache bytes per token by the MLA formula: (kv_lora + rope) × layers × element bytes. */
    public static long kvBytesPerToken(Options o, int elementBytes) {
        return (long) (KV_LORA + ROPE) * o.layers() * elementBytes;
    }

    private static Object[] u32(long v) {
        return new Object[] {GgufValueType.UINT32, v};
    }

    private static Object[] f32(float v) {
        return new Object[] {GgufValueType.FLOAT32, v};
    }

    @FunctionalInterface
    private interface Adder {
        void add(String name, boolean quantized, float std, long... shape);
    }
}
