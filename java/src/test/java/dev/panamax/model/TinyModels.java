package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Test fixtures: tiny random-weight Llama-family GGUF files written with Panamax's own writer (2 layers, 64 wide,
 * 4 heads / 2 KV heads, vocabulary of 300 with a hand-made SentencePiece vocabulary). No reference toolkit needed.
 */
public final class TinyModels {
    public static final int DIM = 64, LAYERS = 2, HEADS = 4, KV_HEADS = 2, FFN = 128, VOCAB = 300, CTX = 128;
    /** qwen3/qwen3moe: head size other than DIM / HEADS (key_length = value_length), as Qwen3's own shapes have it. */
    public static final int QWEN3_HEAD_DIM = 24;
    /** qwen3moe: experts, experts used per token, and each expert's width. */
    public static final int EXPERTS = 4, EXPERTS_USED = 2, FFN_EXP = 32;

    private TinyModels() {}

    /** The SPM vocabulary: unk, BOS, EOS, 256 byte tokens, then word pieces. */
    static List<String> vocab() {
        List<String> t = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        String[] pieces = {"▁", "▁the", "▁a", "▁hello", "▁world", "▁once", "▁upon", "▁time", "e", "t", "a", "o", "i", "n",
                "s", "r", "h", "l", "d", "c", "u", "m", "w", "f", "g", "y", "p", "b", "v", "k", "▁t", "▁s", "▁w", "th", "he",
                "in", "er", "an", "re", "on", "at"};
        for (String p : pieces) t.add(p);
        if (t.size() != VOCAB) throw new AssertionError(t.size());
        return t;
    }

    /**
     * Writes a model.
     *
     * @param arch    "llama", "qwen2" (Q/K/V biases), "qwen3" (per-head Q/K norms, head size {@link #QWEN3_HEAD_DIM}) or
     *                "qwen3moe" (qwen3's attention, every feed-forward {@link #EXPERTS} experts of which
     *                {@link #EXPERTS_USED} are used)
     * @param type    type of the 2-D weights (F32, F16, Q8_0, ... through the Java quantizers)
     * @param tied    no output.weight (the head is token_embd)
     */
    public static Path write(Path dir, String arch, GgmlType type, boolean tied, long seed) throws IOException {
        return write(dir, arch, type, tied, seed, null);
    }

    /** As {@link #write(Path, String, GgmlType, boolean, long)}, leaving out the tensor named {@code omit}. */
    public static Path write(Path dir, String arch, GgmlType type, boolean tied, long seed, String omit) throws IOException {
        return write(dir, arch, type, tied, seed, omit, null);
    }

    /** TinyLlama-1.1B-Chat's template, for models written with a chat template. */
    public static final String TINYLLAMA_CHAT_TEMPLATE = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
            + "{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
            + "{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
            + "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    /** As above, with {@code tokenizer.chat_template} set when {@code chatTemplate} is not null. */
    public static Path write(Path dir, String arch, GgmlType type, boolean tied, long seed, String omit, String chatTemplate)
            throws IOException {
        return write(dir, arch, type, tied, seed, omit, chatTemplate, QWEN3_HEAD_DIM);
    }

    /** A qwen3 / qwen3moe model whose heads hold {@code qwen3HeadDim} values (32: whole blocks of a quantized KV cache). */
    public static Path writeQwen3(Path dir, String arch, GgmlType type, long seed, int qwen3HeadDim) throws IOException {
        return write(dir, arch, type, false, seed, null, null, qwen3HeadDim);
    }

    private static Path write(Path dir, String arch, GgmlType type, boolean tied, long seed, String omit, String chatTemplate,
                              int qwen3HeadDim) throws IOException {
        Path f = dir.resolve(arch + "-" + type + (tied ? "-tied" : "") + "-" + seed + (omit != null ? "-no-" + omit : "")
                + (chatTemplate != null ? "-chat" + Integer.toHexString(chatTemplate.hashCode()) : "")
                + (qwen3HeadDim != QWEN3_HEAD_DIM ? "-hd" + qwen3HeadDim : "") + ".gguf");
        List<String> tokens = vocab();
        float[] scores = new float[VOCAB];
        int[] types = new int[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
            scores[i] = i < 259 ? 0f : -(i - 259) * 0.1f - tokens.get(i).length() * 0.01f;
        }
        Random rnd = new Random(seed);
        boolean qwen3 = arch.startsWith("qwen3"), moe = arch.equals("qwen3moe");
        int hd = qwen3 ? qwen3HeadDim : DIM / HEADS;
        try (Arena arena = Arena.ofConfined(); Kernels k = KernelsProvider.javaKernels("fixture")) {
            GgufWriter w = new GgufWriter()
                    .putString("general.architecture", arch)
                    .putString("general.name", "tiny-" + arch)
                    .putUInt32(arch + ".context_length", CTX)
                    .putUInt32(arch + ".embedding_length", DIM)
                    .putUInt32(arch + ".block_count", LAYERS)
                    .putUInt32(arch + ".feed_forward_length", FFN)
                    .putUInt32(arch + ".attention.head_count", HEADS)
                    .putUInt32(arch + ".attention.head_count_kv", KV_HEADS)
                    .putFloat32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f)
                    .putFloat32(arch + ".rope.freq_base", 10000f)
                    .putString("tokenizer.ggml.model", "llama")
                    .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens.toArray(new String[0]))
                    .putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores)
                    .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types)
                    .putUInt32("tokenizer.ggml.bos_token_id", 1)
                    .putUInt32("tokenizer.ggml.eos_token_id", 2)
                    .putUInt32("tokenizer.ggml.unknown_token_id", 0)
                    .putBool("tokenizer.ggml.add_bos_token", true);
            if (chatTemplate != null) w.putString("tokenizer.chat_template", chatTemplate);
            if (qwen3) w.putUInt32(arch + ".attention.key_length", hd).putUInt32(arch + ".attention.value_length", hd);
            if (moe) {
                w.putUInt32(arch + ".expert_count", EXPERTS).putUInt32(arch + ".expert_used_count", EXPERTS_USED)
                        .putUInt32(arch + ".expert_feed_forward_length", FFN_EXP);
            }
            Adder add = (name, t, shape, std) -> {
                if (name.equals(omit)) return;
                int n = (int) shape[0], rows = 1;
                for (int i = 1; i < shape.length; i++) rows *= (int) shape[i];
                MemorySegment fl = arena.allocate(4L * n * rows, 64);
                for (long i = 0; i < (long) n * rows; i++) {
                    float v = std < 0 ? 1f + (float) rnd.nextGaussian() * 0.1f : (float) rnd.nextGaussian() * std;
                    fl.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                }
                MemorySegment data = fl;
                if (t != GgmlType.F32) {
                    data = arena.allocate(t.rowBytes(n) * rows, 64);
                    k.quantize(t, data, fl, rows, n);
                }
                w.addTensor(name, t, shape, data);
            };
            add.add("token_embd.weight", type, new long[] {DIM, VOCAB}, 1f);
            add.add("output_norm.weight", GgmlType.F32, new long[] {DIM}, -1f);
            if (!tied) add.add("output.weight", type, new long[] {DIM, VOCAB}, 0.2f);
            for (int l = 0; l < LAYERS; l++) {
                String b = "blk." + l + ".";
                add.add(b + "attn_norm.weight", GgmlType.F32, new long[] {DIM}, -1f);
                add.add(b + "attn_q.weight", type, new long[] {DIM, HEADS * hd}, 0.3f);
                add.add(b + "attn_k.weight", type, new long[] {DIM, KV_HEADS * hd}, 0.3f);
                add.add(b + "attn_v.weight", type, new long[] {DIM, KV_HEADS * hd}, 0.2f);
                if (arch.equals("qwen2")) {
                    add.add(b + "attn_q.bias", GgmlType.F32, new long[] {HEADS * hd}, 0.2f);
                    add.add(b + "attn_k.bias", GgmlType.F32, new long[] {KV_HEADS * hd}, 0.2f);
                    add.add(b + "attn_v.bias", GgmlType.F32, new long[] {KV_HEADS * hd}, 0.2f);
                }
                if (qwen3) {
                    add.add(b + "attn_q_norm.weight", GgmlType.F32, new long[] {hd}, -1f);
                    add.add(b + "attn_k_norm.weight", GgmlType.F32, new long[] {hd}, -1f);
                }
                add.add(b + "attn_output.weight", type, new long[] {HEADS * hd, DIM}, 0.15f);
                add.add(b + "ffn_norm.weight", GgmlType.F32, new long[] {DIM}, -1f);
                if (moe) {
                    add.add(b + "ffn_gate_inp.weight", GgmlType.F32, new long[] {DIM, EXPERTS}, 0.5f);
                    add.add(b + "ffn_gate_exps.weight", type, new long[] {DIM, FFN_EXP, EXPERTS}, 0.15f);
                    add.add(b + "ffn_up_exps.weight", type, new long[] {DIM, FFN_EXP, EXPERTS}, 0.15f);
                    add.add(b + "ffn_down_exps.weight", type, new long[] {FFN_EXP, DIM, EXPERTS}, 0.1f);
                } else {
                    add.add(b + "ffn_gate.weight", type, new long[] {DIM, FFN}, 0.15f);
                    add.add(b + "ffn_up.weight", type, new long[] {DIM, FFN}, 0.15f);
                    add.add(b + "ffn_down.weight", type, new long[] {FFN, DIM}, 0.1f);
                }
            }
            w.write(f);
        }
        return f;
    }

    @FunctionalInterface
    private interface Adder {
        /** std < 0: a norm weight around 1. */
        void add(String name, GgmlType t, long[] shape, float std);
    }

    /**
     * Llama 3.1's RoPE frequency factors (HF rope_type "llama3", as llama.cpp's converter writes rope_freqs.weight):
     * scale factor 8, low_freq_factor 1, high_freq_factor 4 over an original context {@code oldCtx}: 1 for pairs
     * whose wavelength is below oldCtx/4, 8 above oldCtx, smooth in between. Llama 3.1 has oldCtx 8192; tests
     * use a small one so that a short prompt sees the difference.
     */
    public static float[] llama31Factors(int nRot, float freqBase, int oldCtx) {
        float[] ff = new float[nRot / 2];
        double lowWavelen = oldCtx / 1.0, highWavelen = oldCtx / 4.0;
        for (int i = 0; i < ff.length; i++) {
            double wavelen = 2 * Math.PI * Math.pow(freqBase, 2.0 * i / nRot);
            if (wavelen < highWavelen) ff[i] = 1f;
            else if (wavelen > lowWavelen) ff[i] = 8f;
            else {
                double smooth = (oldCtx / wavelen - 1) / (4 - 1);
                ff[i] = (float) (1 / ((1 - smooth) / 8 + smooth));
            }
        }
        return ff;
    }

    /** A copy of {@code src} (metadata and tensors unchanged) with an added F32 {@code rope_freqs.weight}. */
    public static Path withRopeFreqs(Path src, Path out, float[] factors) throws IOException {
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) w.put(key, md.typeOf(key), md.get(key));
            MemorySegment ff = arena.allocate(4L * factors.length, 64);
            MemorySegment.copy(factors, 0, ff, ValueLayout.JAVA_FLOAT, 0, factors.length);
            w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {factors.length}, ff);
            for (GgufTensor t : f.tensors()) w.addTensor(t.name(), t.type(), t.shape(), t.data());
            w.write(out);
        }
        return out;
    }

    /**
     * {@code src} (a llama file) as a {@code qwen2} file: the {@code llama.*} keys renamed and random Q/K/V biases
     * added to every layer (qwen2's only structural difference; llama.cpp then also rotates NeoX pairs, as we do).
     */
    public static Path asQwen2(Path src, Path out, long seed) throws IOException {
        Random rnd = new Random(seed);
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) {
                String k = key.startsWith("llama.") ? "qwen2." + key.substring(6) : key;
                w.put(k, md.typeOf(key), k.equals("general.architecture") ? "qwen2" : md.get(key));
            }
            for (GgufTensor t : f.tensors()) {
                w.addTensor(t.name(), t.type(), t.shape(), t.data());
                for (String proj : new String[] {"attn_q", "attn_k", "attn_v"}) {
                    if (!t.name().endsWith("." + proj + ".weight")) continue;
                    int n = (int) t.shape()[1];
                    MemorySegment b = arena.allocate(4L * n, 64);
                    for (int i = 0; i < n; i++) b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian() * 0.5f);
                    w.addTensor(t.name().replace(".weight", ".bias"), GgmlType.F32, new long[] {n}, b);
                }
            }
            w.write(out);
        }
        return out;
    }

    /**
     * The llama fixture (F32, TinyLlama's chat template) with a longer context and the EOS row of output.weight zeroed:
     * greedy decoding never picks EOS (its logit 0 is below the top of 299 random ones), so a request runs to its max
     * tokens unless a grammar leaves only EOS (a finished JSON value): the model of the server and provider tests.
     */
    public static Path writeNeverEnding(Path dir, int contextLength) throws IOException {
        Path src = write(dir, "llama", GgmlType.F32, false, 7, null, TINYLLAMA_CHAT_TEMPLATE);
        Path out = dir.resolve("tiny-chat.gguf");
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) {
                if (key.equals("llama.context_length")) w.put(key, GgufValueType.UINT32, contextLength);
                else w.put(key, md.typeOf(key), md.get(key));
            }
            for (GgufTensor t : f.tensors()) {
                MemorySegment data = t.data();
                if (t.name().equals("output.weight")) {
                    MemorySegment copy = arena.allocate(data.byteSize(), 64);
                    copy.copyFrom(data);
                    int dim = (int) t.shape()[0];
                    int eos = 2;
                    copy.asSlice((long) eos * dim * 4, (long) dim * 4).fill((byte) 0);
                    data = copy;
                }
                w.addTensor(t.name(), t.type(), t.shape(), data);
            }
            w.write(out);
        }
        return out;
    }
}
