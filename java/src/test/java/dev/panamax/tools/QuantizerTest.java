package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The quantizer on a model made here (no toolkit): order, metadata, mix rules, fallbacks, refusals. */
class QuantizerTest {
    @TempDir
    Path dir;

    /** An 8-layer llama-shaped model of random F32 weights; ffn_down rows of 96 columns (not a multiple of 256). */
    Path model() throws Exception {
        Path p = dir.resolve("in.gguf");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putUInt32("general.file_type", 0);
        w.putUInt32("llama.block_count", 8);
        w.putUInt32("llama.attention.head_count", 4);
        w.putUInt32("llama.attention.head_count_kv", 4);
        w.putString("general.name", "after file_type");
        Random r = new Random(1);
        try (Arena a = Arena.ofConfined()) {
            // added out of llama.cpp's order on purpose
            for (int l = 7; l >= 0; l--) {
                w.addTensor("blk." + l + ".ffn_down.weight", GgmlType.F32, new long[] {96, 256}, floats(a, r, 96 * 256));
                w.addTensor("blk." + l + ".attn_v.weight", GgmlType.F32, new long[] {256, 64}, floats(a, r, 256 * 64));
                w.addTensor("blk." + l + ".attn_norm.weight", GgmlType.F32, new long[] {256}, floats(a, r, 256));
            }
            w.addTensor("token_embd.weight", GgmlType.F32, new long[] {256, 32}, floats(a, r, 256 * 32));
            w.addTensor("output.weight", GgmlType.F32, new long[] {256, 32, 1}, floats(a, r, 256 * 32));
            w.write(p);
        }
        return p;
    }

    static MemorySegment floats(Arena a, Random r, int n) {
        MemorySegment s = a.allocate(4L * n, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        return s;
    }

    @Test
    void q4KMixOrderAndMetadata() throws Exception {
        Path in = model(), out = dir.resolve("out.gguf");
        Quantizer.Result res = new Quantizer(QuantFileType.Q4_K_M).threads(3).quantize(in, out);
        assertEquals(26, res.tensors());
        try (GgufFile f = GgufFile.open(out)) {
            List<String> keys = new ArrayList<>(f.metadata().keys());
            assertEquals(List.of("general.architecture", "llama.block_count", "llama.attention.head_count",
                    "llama.attention.head_count_kv", "general.name", "general.quantization_version", "general.file_type"), keys);
            assertEquals(15, f.metadata().getInt("general.file_type"));
            List<String> names = f.tensors().stream().map(GgufTensor::name).toList();
            assertEquals("output.weight", names.get(0)); // layer -1 first, then by name
            assertEquals("token_embd.weight", names.get(1));
            assertEquals(List.of("blk.0.attn_norm.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight"), names.subList(2, 5));
            assertArrayEquals(new long[] {256, 32}, f.tensor("output.weight").shape(), "trailing 1 dims dropped");
            assertEquals("q6_K", f.tensor("output.weight").typeName());
            assertEquals("q4_K", f.tensor("token_embd.weight").typeName());
            assertEquals("f32", f.tensor("blk.3.attn_norm.weight").typeName());
            // use_more_bits(i, 8): layers 0, 3, 6, 7 get Q6_K for attn_v; ffn_down falls back Q6_K -> Q8_0, Q4_K -> Q5_0
            String[] v = new String[8], d = new String[8];
            for (int l = 0; l < 8; l++) {
                v[l] = f.tensor("blk." + l + ".attn_v.weight").typeName();
                d[l] = f.tensor("blk." + l + ".ffn_down.weight").typeName();
            }
            assertArrayEquals(new String[] {"q6_K", "q4_K", "q4_K", "q6_K", "q4_K", "q4_K", "q6_K", "q6_K"}, v);
            assertArrayEquals(new String[] {"q8_0", "q5_0", "q5_0", "q8_0", "q5_0", "q5_0", "q8_0", "q8_0"}, d);
            for (GgufTensor t : f.tensors()) assertEquals(0, t.offset() % 32, t.name() + " aligned");
        }
        assertTrue(res.warnings().stream().anyMatch(s -> s.contains("falling back to q5_0")), res.warnings().toString());
    }

    @Test
    void threadsDoNotChangeTheBytes() throws Exception {
        Path in = model(), a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf");
        new Quantizer(QuantFileType.Q4_0).threads(1).quantize(in, a);
        new Quantizer(QuantFileType.Q4_0).threads(4).quantize(in, b);
        assertEquals(-1, Files.mismatch(a, b));
    }

    @Test
    void refusesToOverwriteItsInput() throws Exception {
        Path in = model();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Quantizer(QuantFileType.Q8_0).quantize(in, dir.resolve(".").resolve("in.gguf")));
        assertTrue(e.getMessage().contains("is the input file"), e.getMessage());
    }

    @Test
    void unknownTypeNamesTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QuantFileType.parse("q4_k_x"));
        assertTrue(e.getMessage().contains("q4_k_m"), e.getMessage());
    }
}
