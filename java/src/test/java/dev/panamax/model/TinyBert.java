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
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Test fixture: a tiny random-weight {@code bert} encoder in llama.cpp's layout (2 layers, 64 wide, 4 heads, context
 * 48) with a hand-made WordPiece vocabulary ([PAD] [CLS] [SEP] [UNK], word-initial pieces "▁x" and continuations),
 * written with Panamax's own writer; {@code pooling} rank adds a reranker's classification head. No toolkit needed.
 */
public final class TinyBert {
    public static final int DIM = 64, LAYERS = 2, HEADS = 4, FFN = 128, CTX = 48;

    private TinyBert() {}

    static List<String> vocab() {
        List<String> t = new ArrayList<>(List.of("[PAD]", "[CLS]", "[SEP]", "[UNK]"));
        for (String w : new String[] {"hello", "world", "the", "cat", "dog", "sat", "on", "mat", "paris", "france",
                "capital", "of", "is", "what", "city", "un", "play"}) t.add("\u2581" + w);
        for (char c = 'a'; c <= 'z'; c++) t.add("\u2581" + c);
        for (char c = 'a'; c <= 'z'; c++) t.add(String.valueOf(c));
        for (String p : new String[] {"ing", "ed", "s", "er"}) t.add(p);
        for (String p : new String[] {",", ".", "!", "?", "'"}) t.add("\u2581" + p);
        return t;
    }

    /** Writes the model; pooling is 1 mean, 2 cls, 3 last or 4 rank (with a classification head). */
    public static Path write(Path dir, int pooling, long seed) throws IOException {
        Path f = dir.resolve("tiny-bert-" + pooling + "-" + seed + ".gguf");
        List<String> tokens = vocab();
        int n = tokens.size();
        int[] types = new int[n];
        for (int i = 0; i < n; i++) types[i] = i == 3 ? 2 : i < 4 ? 3 : 1;
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofConfined(); Kernels k = KernelsProvider.javaKernels("fixture")) {
            GgufWriter w = new GgufWriter()
                    .putString("general.architecture", "bert")
                    .putString("general.name", "tiny-bert")
                    .putUInt32("bert.context_length", CTX)
                    .putUInt32("bert.embedding_length", DIM)
                    .putUInt32("bert.block_count", LAYERS)
                    .putUInt32("bert.feed_forward_length", FFN)
                    .putUInt32("bert.attention.head_count", HEADS)
                    .putFloat32("bert.attention.layer_norm_epsilon", 1e-12f)
                    .putBool("bert.attention.causal", false)
                    .putUInt32("bert.pooling_type", pooling)
                    .putString("tokenizer.ggml.model", "bert")
                    .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens.toArray(new String[0]))
                    .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types)
                    .putUInt32("tokenizer.ggml.bos_token_id", 1)
                    .putUInt32("tokenizer.ggml.seperator_token_id", 2)
                    .putUInt32("tokenizer.ggml.unknown_token_id", 3)
                    .putUInt32("tokenizer.ggml.padding_token_id", 0);
            interface Adder {
                void add(String name, long[] shape, float std);
            }
            Adder add = (name, shape, std) -> {
                long count = 1;
                for (long s : shape) count *= s;
                MemorySegment fl = arena.allocate(4L * count, 64);
                for (long i = 0; i < count; i++) {
                    float v = std < 0 ? 1f + (float) rnd.nextGaussian() * 0.1f : (float) rnd.nextGaussian() * std;
                    fl.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                }
                w.addTensor(name, GgmlType.F32, shape, fl);
            };
            add.add("token_embd.weight", new long[] {DIM, n}, 0.5f);
            add.add("token_types.weight", new long[] {DIM, 2}, 0.1f);
            add.add("position_embd.weight", new long[] {DIM, CTX}, 0.1f);
            add.add("token_embd_norm.weight", new long[] {DIM}, -1f);
            add.add("token_embd_norm.bias", new long[] {DIM}, 0.05f);
            for (int l = 0; l < LAYERS; l++) {
                String b = "blk." + l + ".";
                for (String t : new String[] {"attn_q", "attn_k", "attn_v", "attn_output"}) {
                    add.add(b + t + ".weight", new long[] {DIM, DIM}, 0.2f);
                    add.add(b + t + ".bias", new long[] {DIM}, 0.05f);
                }
                add.add(b + "attn_output_norm.weight", new long[] {DIM}, -1f);
                add.add(b + "attn_output_norm.bias", new long[] {DIM}, 0.05f);
                add.add(b + "ffn_up.weight", new long[] {DIM, FFN}, 0.2f);
                add.add(b + "ffn_up.bias", new long[] {FFN}, 0.05f);
                add.add(b + "ffn_down.weight", new long[] {FFN, DIM}, 0.15f);
                add.add(b + "ffn_down.bias", new long[] {DIM}, 0.05f);
                add.add(b + "layer_output_norm.weight", new long[] {DIM}, -1f);
                add.add(b + "layer_output_norm.bias", new long[] {DIM}, 0.05f);
            }
            if (pooling == 4) {
                add.add("cls.weight", new long[] {DIM, DIM}, 0.2f);
                add.add("cls.bias", new long[] {DIM}, 0.05f);
                add.add("cls.output.weight", new long[] {DIM, 1}, 0.3f);
                add.add("cls.output.bias", new long[] {1}, 0.05f);
            }
            w.write(f);
        }
        return f;
    }
}
