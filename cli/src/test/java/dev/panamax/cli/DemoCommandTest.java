package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code panamax demo}'s model writer on a small shape (the TinyLlama-sized run is too big for a unit test): the file
 * loads and generates, is deterministic, has the promised types and value scale, and never appears half-written.
 */
class DemoCommandTest {
    static final DemoCommand.Shape SMALL = new DemoCommand.Shape(64, 2, 4, 2, 96, 700, 64);

    @TempDir
    Path dir;

    static Path write(Path file, DemoCommand.Shape s, long seed) throws Exception {
        List<Integer> seen = new ArrayList<>();
        try (Kernels k = KernelsProvider.create(null, 1)) {
            DemoCommand.writeModel(file, s, seed, k, seen::add);
        }
        assertEquals(100, seen.getLast(), "progress ends at 100%: " + seen);
        for (int i = 1; i < seen.size(); i++) assertTrue(seen.get(i) >= seen.get(i - 1), "progress is monotone: " + seen);
        return file;
    }

    @Test
    void writtenModelLoadsAndGeneratesDeterministically() throws Exception {
        Path f = write(dir.resolve("m.gguf"), SMALL, 1);
        assertFalse(Files.exists(dir.resolve("m.gguf.partial")), "no temporary left behind");
        try (Model m = Model.load(f)) {
            assertEquals(SMALL.vocab(), m.vocabSize());
            assertEquals("llama", m.architecture());
            assertEquals((long) SMALL.nLayer() * SMALL.nKvHead() * 2 * (SMALL.dim() / SMALL.nHead()) * 2, m.kvBytesPerToken());
            int[] first;
            try (Session s = m.newSession()) {
                Generation g = s.generate("hello world", 8, SamplingParams.greedy(), null);
                assertEquals(1, g.promptTokens()[0], "BOS first, as the metadata asks");
                first = g.tokens();
                assertTrue(first.length > 0 || g.stop() == Generation.StopReason.END_OF_GENERATION);
            }
            try (Session s = m.newSession()) {
                assertArrayEquals(first, s.generate("hello world", 8, SamplingParams.greedy(), null).tokens());
            }
            // the synthetic vocabulary round-trips text (pieces or byte fallback)
            String text = "Once upon a time, 42 zebras!";
            int[] ids = m.tokenizer().encode(text, false);
            assertTrue(ids.length < text.length(), "letter groups merge: " + ids.length + " ids");
            assertEquals(text, m.tokenizer().decode(ids));
        }
    }

    @Test
    void typesAndValueScaleAreAsDocumented() throws Exception {
        Path f = write(dir.resolve("m.gguf"), SMALL, 2);
        Map<String, Object> info = InfoCommand.describe(f);
        @SuppressWarnings("unchecked")
        Map<String, Integer> types = (Map<String, Integer>) info.get("types");
        assertEquals(Map.of("q4_0", 2 + 7 * SMALL.nLayer(), "f32", 1 + 2 * SMALL.nLayer()), types);
        int hd = SMALL.dim() / SMALL.nHead();
        assertEquals(2L * SMALL.nLayer() * SMALL.nKvHead() * hd * 2, info.get("kv_bytes_per_token"));
        try (GgufFile g = GgufFile.open(f); Arena a = Arena.ofConfined(); Kernels k = KernelsProvider.javaKernels("test")) {
            GgufTensor t = g.tensor("blk.1.ffn_down.weight");
            assertEquals(GgmlType.Q4_0, t.type());
            long n = t.elementCount();
            MemorySegment x = a.allocate(4 * n, 64);
            k.dequantize(GgmlType.Q4_0, x, t.data(), (int) t.shape()[1], (int) t.shape()[0]);
            double sum = 0, sq = 0;
            for (long i = 0; i < n; i++) {
                float v = x.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                sum += v;
                sq += v * v;
            }
            double mean = sum / n, std = Math.sqrt(sq / n - mean * mean);
            assertEquals(0, mean, 0.002, "centred");
            assertEquals(0.02, std, 0.003, "std 0.02 (Q4_0 rounding adds a little)");
            GgufTensor norm = g.tensor("output_norm.weight");
            assertEquals(GgmlType.F32, norm.type());
            assertEquals(1f, norm.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
        }
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherBytes() throws Exception {
        byte[] a = Files.readAllBytes(write(dir.resolve("a.gguf"), SMALL, 5));
        byte[] b = Files.readAllBytes(write(dir.resolve("b.gguf"), SMALL, 5));
        byte[] c = Files.readAllBytes(write(dir.resolve("c.gguf"), SMALL, 6));
        assertArrayEquals(a, b);
        assertEquals(a.length, c.length);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    @Test
    void vocabularyIsUniqueAndFillsTinyLlamasSize() {
        List<String> v = DemoCommand.vocab(32000);
        assertEquals(32000, v.size());
        assertEquals(32000, new HashSet<>(v).size());
        assertEquals(List.of("<unk>", "<s>", "</s>", "<0x00>"), v.subList(0, 4));
        assertEquals("<0xFF>", v.get(258));
        assertEquals("▁", v.get(259));
        assertEquals(DemoCommand.MIN_VOCAB, DemoCommand.vocab(DemoCommand.MIN_VOCAB).size());
        assertEquals(60000, new HashSet<>(DemoCommand.vocab(60000)).size(), "beyond the letter groups still unique");
    }

    @Test
    void badShapesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new DemoCommand.Shape(64, 2, 5, 1, 96, 700, 64));
        assertThrows(IllegalArgumentException.class, () -> new DemoCommand.Shape(64, 2, 4, 2, 96, 100, 64));
        assertThrows(IllegalArgumentException.class, () -> new DemoCommand.Shape(64, 2, 4, 3, 96, 700, 64));
    }

    @Test
    void tinyLlamaShapeIsTinyLlamas() {
        DemoCommand.Shape s = DemoCommand.Shape.TINYLLAMA_1_1B;
        assertEquals(List.of(2048, 22, 32, 4, 5632, 32000), List.of(s.dim(), s.nLayer(), s.nHead(), s.nKvHead(), s.ffn(), s.vocab()));
    }

    /**
     * The demo's first part on the committed trained model: both continuations come out, the greedy one is the model's
     * deterministic argmax chain (the same on a second run), and a missing model is a note, not a failure.
     */
    @Test
    void trainedPartGeneratesFromTheCommittedModel() {
        Path model = Path.of(System.getProperty("panamax.source.root", "..")).resolve(DemoCommand.TRAINED_MODEL);
        assertTrue(Files.isRegularFile(model), "committed model missing: " + model);
        CliTest.Result a = CliTest.run("demo", "--no-speed", "--trained-model", model.toString());
        assertEquals(0, a.code(), a.err());
        assertTrue(a.out().contains("-- greedy --\nAnd God said"), a.out());
        assertTrue(a.out().contains("seed 1) --\nAnd God said"), a.out());
        assertEquals(2, a.out().split("\\(64 tokens", -1).length - 1, "64 tokens each: " + a.out());
        String greedy = a.out().substring(a.out().indexOf("-- greedy --"), a.out().indexOf("-- sampled"));
        CliTest.Result b = CliTest.run("demo", "--no-speed", "--trained-model", model.toString());
        assertEquals(greedy.replaceAll("\\d+ tokens/s", ""),
                b.out().substring(b.out().indexOf("-- greedy --"), b.out().indexOf("-- sampled")).replaceAll("\\d+ tokens/s", ""));
        CliTest.Result missing = CliTest.run("demo", "--no-speed", "--trained-model", dir.resolve("absent.gguf").toString());
        assertEquals(0, missing.code());
        assertTrue(missing.out().contains("not found"), missing.out());
    }
}
