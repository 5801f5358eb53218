package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Model;
import dev.panamax.gguf.GgufFile;
import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The importance matrix on a tiny model made here: values against a recomputation, the file format, gguf-py. */
class ImatrixTest {
    static final int CTX = 64, CHUNKS = 2;
    static final String TEXT = "In the beginning the quick brown fox jumps over the lazy dog, and the dog sleeps on. ".repeat(6);

    @TempDir
    static Path dir;
    static Path model;
    static int[] tokens;
    static Imatrix im;

    @BeforeAll
    static void collect() throws Exception {
        model = TinyModels.write(dir, "llama", GgmlType.F32, false, 7);
        try (Model m = Model.load(model)) {
            tokens = m.tokenizer().encode(TEXT);
            assertTrue(tokens.length >= CTX * CHUNKS, "text of " + tokens.length + " tokens");
            im = ImatrixCollector.collect(m, tokens, CTX, CHUNKS, "text", c -> { });
        }
    }

    /** blk.0.attn_q's input is RMSNorm(embedding) · attn_norm: recomputed in double from the file itself. */
    @Test
    void layerZeroInputEqualsRecomputation() throws Exception {
        try (GgufFile f = GgufFile.open(model)) {
            int dim = (int) f.tensor("token_embd.weight").shape()[0];
            float eps = f.metadata().getFloat("llama.attention.layer_norm_rms_epsilon");
            int bos = 1; // TinyModels' BOS id; the chunk's first token is replaced by it
            double[] expect = new double[dim];
            for (int c = 0; c < CHUNKS; c++) {
                for (int i = 0; i < CTX; i++) {
                    int tok = i == 0 ? bos : tokens[c * CTX + i];
                    double ss = 0;
                    for (int j = 0; j < dim; j++) {
                        double x = emb(f, tok, j, dim);
                        ss += x * x;
                    }
                    double scale = 1 / Math.sqrt(ss / dim + eps);
                    for (int j = 0; j < dim; j++) {
                        double w = f.tensor("blk.0.attn_norm.weight").data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, j);
                        double y = emb(f, tok, j, dim) * scale * w;
                        expect[j] += y * y;
                    }
                }
            }
            Imatrix.Entry e = im.entries().get("blk.0.attn_q.weight");
            assertArrayEquals(new long[] {CTX * CHUNKS}, e.counts());
            for (int j = 0; j < dim; j++) {
                assertEquals(expect[j], e.sums()[j], 1e-4 * expect[j], "column " + j);
            }
        }
    }

    static double emb(GgufFile f, int tok, int j, int dim) {
        return f.tensor("token_embd.weight").data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) tok * dim + j);
    }

    @Test
    void everyLayerMatmulHasAnEntry() {
        for (int l = 0; l < TinyModels.LAYERS; l++) {
            for (String w : List.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")) {
                assertTrue(im.entries().containsKey("blk." + l + "." + w + ".weight"), "blk." + l + "." + w);
            }
        }
        assertTrue(!im.entries().containsKey("output.weight"), "output.weight is not collected (as llama-imatrix without --process-output)");
        assertEquals(CHUNKS, im.chunkCount());
    }

    @Test
    void writesAndReadsBack() throws Exception {
        Path f = dir.resolve("im.gguf");
        im.write(f);
        Imatrix back = Imatrix.read(f);
        assertEquals(im.entries().keySet(), back.entries().keySet());
        assertEquals(List.of("text"), back.datasets());
        assertEquals(CTX, back.chunkSize());
        float[] a = im.get("blk.1.ffn_down.weight"), b = back.get("blk.1.ffn_down.weight");
        assertArrayEquals(a, b, 1e-6f * a[0]);
    }

    /** llama.cpp's own reader (gguf-py) finds the keys, tensor names and shapes of its imatrix format. */
    @Test
    void ggufPyReadsIt() throws Exception {
        Path py = Toolkit.REF.resolve("src/gguf-py");
        Assumptions.assumeTrue(Files.isDirectory(py), "gguf-py not found at " + py + " (llama.cpp reference toolkit)");
        Path f = dir.resolve("im-py.gguf");
        im.write(f);
        String script = String.join("\n",
                "import gguf, sys",
                "r = gguf.GGUFReader(sys.argv[1])",
                "f = r.fields",
                "assert f['general.type'].contents() == 'imatrix', f['general.type'].contents()",
                "print('datasets', f['imatrix.datasets'].contents())",
                "print('chunk_count', f['imatrix.chunk_count'].contents(), 'chunk_size', f['imatrix.chunk_size'].contents())",
                "for t in r.tensors: print(t.name, t.tensor_type.name, [int(d) for d in t.shape], float(t.data.ravel()[0]))");
        ProcessBuilder pb = new ProcessBuilder("python3", "-c", script, f.toString()).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", py.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        Assumptions.assumeFalse(out.contains("No module named 'numpy'"), "gguf-py needs numpy");
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("datasets ['text']"), out);
        assertTrue(out.contains("chunk_count " + CHUNKS + " chunk_size " + CTX), out);
        Imatrix.Entry e = im.entries().get("blk.0.attn_q.weight");
        assertTrue(out.contains("blk.0.attn_q.weight.in_sum2 F32 [" + e.cols() + "] "), out);
        assertTrue(out.contains("blk.0.attn_q.weight.counts F32 [1] " + (double) (CTX * CHUNKS)), out);
        assertEquals(2 * im.size(), out.lines().filter(l -> l.startsWith("blk.")).count(), out);
    }
}
