package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Backend;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.model.ActivationObserver;
import dev.panamax.model.TinyDeepseek;
import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Pruner} on tiny random-weight models: what it removes equals masking the same experts / channels / KV groups in
 * the unpruned model (logits within float tolerance), its statistics equal a double-precision recomputation, nothing
 * dropped gives the input's bytes, and impossible requests fail in one line without writing.
 */
class PrunerTest {

    @TempDir
    Path tmp;

    /** Calibration text of the tiny SPM vocabulary: many tokens, several chunks at -c 32. */
    static final String CALIB = "hello world once upon a time the world said hello to the time there was a tree. ".repeat(12);
    static final String PROMPT = "once upon a time the hello world said the tree was there";

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Path deepseek(TinyDeepseek.Options o) throws IOException {
        return TinyDeepseek.write(tmp, o);
    }

    private static TinyDeepseek.Options v3NoGroups() {
        return TinyDeepseek.Options.defaults().withGating(true, true).withNorm(true, 2.5f);
    }

    @Test
    void nothingDroppedIsByteIdentical() throws Exception {
        Path llama = TinyModels.write(tmp, "llama", GgmlType.F32, false, 3);
        Path ds = deepseek(v3NoGroups());
        Path moe = TinyModels.write(tmp, "qwen3moe", GgmlType.Q8_0, false, 4);
        check(llama, new Pruner().ffnKeepFraction(1.0).headsKeep(TinyModels.HEADS));
        check(ds, new Pruner().expertsKeep(TinyDeepseek.EXPERTS).ffnKeepFraction(1.0));
        check(moe, new Pruner().expertsDropFraction(0.0));
    }

    private void check(Path in, Pruner p) throws IOException {
        Path out = tmp.resolve("same-" + in.getFileName());
        p.contextLength(32).prune(in, out, CALIB);
        assertEquals(-1, Files.mismatch(in, out), in.getFileName() + ": nothing dropped must give the input's bytes");
    }

    @Test
    void expertRemovalEqualsMaskingSigmoidRouting() throws Exception {
        expertsEqualMasking(deepseek(v3NoGroups()), false);
    }

    @Test
    void expertRemovalEqualsMaskingSoftmaxRouting() throws Exception {
        // softmax with normalized weights: masking (selection bias -1e30) leaves the kept experts' weights as pruning does
        expertsEqualMasking(deepseek(TinyDeepseek.Options.defaults().withGating(false, false).withNorm(true, 1f)), true);
    }

    private void expertsEqualMasking(Path in, boolean addBias) throws Exception {
        Path out = tmp.resolve("pruned-" + in.getFileName());
        Pruner.Result r = new Pruner().expertsKeep(5).contextLength(32).prune(in, out, CALIB);
        assertEquals(2, r.layers().size()); // layers 1 and 2 are MoE
        Map<String, boolean[]> dropped = new HashMap<>();
        for (Pruner.LayerChoice c : r.layers()) {
            assertEquals("experts", c.kind());
            assertEquals(5, c.kept().length);
            boolean[] d = new boolean[TinyDeepseek.EXPERTS];
            java.util.Arrays.fill(d, true);
            for (int k : c.kept()) d[k] = false;
            dropped.put("blk." + c.layer() + ".exp_probs_b.bias", d);
        }
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(5, f.metadata().getInt("deepseek2.expert_count"));
            assertArrayEquals(new long[] {TinyDeepseek.DIM, TinyDeepseek.FFN_EXP, 5}, f.tensor("blk.1.ffn_up_exps.weight").shape());
            assertArrayEquals(new long[] {TinyDeepseek.DIM, 5}, f.tensor("blk.2.ffn_gate_inp.weight").shape());
        }
        Path masked = tmp.resolve("masked-" + in.getFileName());
        Map<String, long[]> extra = new HashMap<>();
        if (addBias) for (String name : dropped.keySet()) extra.put(name, new long[] {TinyDeepseek.EXPERTS});
        rewrite(in, masked, extra, (name, v) -> {
            boolean[] d = dropped.get(name);
            if (d == null) return;
            for (int e = 0; e < d.length; e++) if (d[e]) v[e] = -1e30f;
        });
        assertLogitsClose(masked, out, 2e-4f);
    }

    @Test
    void channelRemovalEqualsMasking() throws Exception {
        Path in = TinyModels.write(tmp, "llama", GgmlType.F32, false, 5);
        Path out = tmp.resolve("pruned-ch.gguf");
        Pruner.Result r = new Pruner().ffnKeepFraction(0.7).contextLength(32).prune(in, out, CALIB);
        int keep = 96; // 0.7 * 128 = 89.6 -> the nearest multiple of 32
        assertEquals(TinyModels.LAYERS, r.layers().size());
        Map<String, boolean[]> dropped = new HashMap<>();
        for (Pruner.LayerChoice c : r.layers()) {
            assertEquals(keep, c.kept().length);
            boolean[] d = new boolean[TinyModels.FFN];
            java.util.Arrays.fill(d, true);
            for (int k : c.kept()) d[k] = false;
            dropped.put("blk." + c.layer() + ".ffn_gate.weight", d);
        }
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(keep, f.metadata().getInt("llama.feed_forward_length"));
            assertArrayEquals(new long[] {keep, TinyModels.DIM}, f.tensor("blk.0.ffn_down.weight").shape());
        }
        // a zero gate row makes its channel SiLU(0)·up = 0: the same sum without it
        Path masked = tmp.resolve("masked-ch.gguf");
        rewrite(in, masked, Map.of(), (name, v) -> {
            boolean[] d = dropped.get(name);
            if (d == null) return;
            for (int j = 0; j < d.length; j++) if (d[j]) java.util.Arrays.fill(v, j * TinyModels.DIM, (j + 1) * TinyModels.DIM, 0f);
        });
        assertLogitsClose(masked, out, 2e-4f);
    }

    @Test
    void deepseekDenseChannelsAndExpertsTogether() throws Exception {
        Path in = deepseek(v3NoGroups());
        Path out = tmp.resolve("pruned-both.gguf");
        Pruner.Result r = new Pruner().ffnKeepFraction(0.67).expertsKeep(6).contextLength(32).prune(in, out, CALIB);
        Map<String, boolean[]> gateRows = new HashMap<>(), bias = new HashMap<>();
        for (Pruner.LayerChoice c : r.layers()) {
            boolean[] d = new boolean[c.before()];
            java.util.Arrays.fill(d, true);
            for (int k : c.kept()) d[k] = false;
            if (c.kind().equals("channels")) gateRows.put("blk." + c.layer() + ".ffn_gate.weight", d);
            else bias.put("blk." + c.layer() + ".exp_probs_b.bias", d);
        }
        assertEquals(1, gateRows.size());
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(64, f.metadata().getInt("deepseek2.feed_forward_length"));
        }
        Path masked = tmp.resolve("masked-both.gguf");
        rewrite(in, masked, Map.of(), (name, v) -> {
            boolean[] g = gateRows.get(name), b = bias.get(name);
            if (g != null) for (int j = 0; j < g.length; j++) if (g[j]) java.util.Arrays.fill(v, j * TinyDeepseek.DIM, (j + 1) * TinyDeepseek.DIM, 0f);
            if (b != null) for (int e = 0; e < b.length; e++) if (b[e]) v[e] = -1e30f;
        });
        assertLogitsClose(masked, out, 2e-4f);
    }

    @Test
    void kvGroupRemovalEqualsMasking() throws Exception {
        Path in = TinyModels.write(tmp, "llama", GgmlType.F32, false, 6);
        Path out = tmp.resolve("pruned-heads.gguf");
        Pruner.Result r = new Pruner().headsKeep(2).contextLength(32).prune(in, out, CALIB);
        int hd = TinyModels.DIM / TinyModels.HEADS, group = TinyModels.HEADS / TinyModels.KV_HEADS;
        Map<String, int[]> keptGroups = new HashMap<>();
        for (Pruner.LayerChoice c : r.layers()) {
            assertEquals(1, c.kept().length);
            keptGroups.put("blk." + c.layer() + ".attn_output.weight", c.kept());
        }
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(2, f.metadata().getInt("llama.attention.head_count"));
            assertEquals(1, f.metadata().getInt("llama.attention.head_count_kv"));
            assertEquals(hd, f.metadata().getInt("llama.attention.key_length"));
        }
        // zero attn_output columns of the dropped heads: their outputs no longer reach the residual stream
        Path masked = tmp.resolve("masked-heads.gguf");
        rewrite(in, masked, Map.of(), (name, v) -> {
            int[] kept = keptGroups.get(name);
            if (kept == null) return;
            int cols = TinyModels.HEADS * hd;
            for (int h = 0; h < TinyModels.HEADS; h++) {
                if (h / group == kept[0]) continue;
                for (int row = 0; row < TinyModels.DIM; row++) java.util.Arrays.fill(v, row * cols + h * hd, row * cols + (h + 1) * hd, 0f);
            }
        });
        assertLogitsClose(masked, out, 2e-4f);
    }

    @Test
    void quantizedColumnsStayInTheirType() throws Exception {
        Path in = TinyModels.write(tmp, "llama", GgmlType.Q8_0, false, 7);
        Path out = tmp.resolve("pruned-q8.gguf");
        new Pruner().ffnKeepFraction(0.5).contextLength(32).prune(in, out, CALIB);
        try (GgufFile f = GgufFile.open(out)) {
            GgufTensor d = f.tensor("blk.1.ffn_down.weight");
            assertEquals(GgmlType.Q8_0, d.type());
            assertArrayEquals(new long[] {64, TinyModels.DIM}, d.shape());
        }
        try (Model m = Model.load(out); Session s = m.newSession(64)) {
            for (float x : s.promptLogits(m.tokenizer().encode(PROMPT))) assertTrue(Float.isFinite(x));
        }
        // and quantized to another type in the same call
        Path q4 = tmp.resolve("pruned-q4.gguf");
        new Pruner().ffnKeepFraction(0.5).type(QuantFileType.Q4_0).contextLength(32).prune(in, q4, CALIB);
        try (GgufFile f = GgufFile.open(q4)) {
            assertEquals(GgmlType.Q4_0, f.tensor("blk.1.ffn_up.weight").type());
            assertEquals(64, f.metadata().getInt("llama.feed_forward_length"));
        }
    }

    @Test
    void qwen3moeExpertsArePruned() throws Exception {
        Path in = TinyModels.write(tmp, "qwen3moe", GgmlType.F32, false, 8);
        Path out = tmp.resolve("pruned-moe.gguf");
        Pruner.Result r = new Pruner().expertsKeep(3).contextLength(32).prune(in, out, CALIB);
        for (Pruner.LayerChoice c : r.layers()) {
            assertEquals("reap", c.score());
            double total = 0;
            for (double s : c.scores()) total += s;
            assertTrue(total > 0, "calibration reached layer " + c.layer() + "'s experts");
        }
        try (Model m = Model.load(out); Session s = m.newSession(64)) {
            for (float x : s.promptLogits(m.tokenizer().encode(PROMPT))) assertTrue(Float.isFinite(x));
        }
    }

    @Test
    void randomChoosesTheSameCountsReproducibly() throws Exception {
        Path in = deepseek(v3NoGroups());
        Pruner.Result a = new Pruner().expertsKeep(4).random(11).contextLength(32).prune(in, tmp.resolve("r1.gguf"), CALIB);
        Pruner.Result b = new Pruner().expertsKeep(4).random(11).contextLength(32).prune(in, tmp.resolve("r2.gguf"), CALIB);
        assertEquals(-1, Files.mismatch(tmp.resolve("r1.gguf"), tmp.resolve("r2.gguf")));
        assertTrue(a.random());
        for (Pruner.LayerChoice c : a.layers()) assertEquals(4, c.kept().length);
        assertTrue(a.toJson().contains("\"mode\":\"random\""));
        Pruner.Result c = new Pruner().expertsKeep(4).random(12).contextLength(32).prune(in, tmp.resolve("r3.gguf"), CALIB);
        boolean differs = false;
        for (int i = 0; i < a.layers().size(); i++) differs |= !java.util.Arrays.equals(a.layers().get(i).kept(), c.layers().get(i).kept());
        assertTrue(differs, "another seed chooses other experts");
        assertEquals(b.layers().size(), a.layers().size());
    }

    /** Every (token, expert) pair's statistics against float64 recomputed from the F32 weights and the observed input. */
    @Test
    void statisticsEqualDoublePrecisionRecomputation() throws Exception {
        Path in = deepseek(v3NoGroups());
        String down = "blk.1.ffn_down_exps.weight", dense = "blk.0.ffn_down.weight";
        PruneStatistics stats = new PruneStatistics(Set.of(dense), Set.of(down), Set.of(), 1);
        int ne = TinyDeepseek.EXPERTS, dim = TinyDeepseek.DIM, ff = TinyDeepseek.FFN_EXP;
        long[] count = new long[ne];
        double[] mass = new double[ne], sal = new double[ne], abs = new double[TinyDeepseek.FFN];
        long[] denseRows = {0};
        try (GgufFile f = GgufFile.open(in); Model m = Model.load(in, Model.Options.defaults().withPackWeights(false).withBackend(Backend.JAVA))) {
            float[] g = floats(f.tensor("blk.1.ffn_gate_exps.weight")), u = floats(f.tensor("blk.1.ffn_up_exps.weight"));
            float[] d = floats(f.tensor(down));
            double[] x = new double[dim];
            ActivationObserver both = new ActivationObserver() {
                @Override
                public void matmul(String weight, int matrix, int nMatrices, MemorySegment inp, int n, int cols) {
                    stats.matmul(weight, matrix, nMatrices, inp, n, cols);
                    if (weight.equals("blk.1.ffn_gate_exps.weight")) for (int i = 0; i < dim; i++) x[i] = inp.getAtIndex(F, i);
                    if (weight.equals(dense)) {
                        for (long i = 0; i < (long) n * cols; i++) abs[(int) (i % cols)] += Math.abs((double) inp.getAtIndex(F, i));
                        denseRows[0] += n;
                    }
                }

                @Override
                public boolean wantsExpertOutputs() {
                    return true;
                }

                @Override
                public void expertOutput(String w, int e, int nExpert, float weight, MemorySegment out, int outDim) {
                    stats.expertOutput(w, e, nExpert, weight, out, outDim);
                    if (!w.equals(down)) return;
                    double[] h = new double[ff];
                    for (int r = 0; r < ff; r++) {
                        double a = 0, b = 0;
                        for (int i = 0; i < dim; i++) {
                            a += (double) g[(e * ff + r) * dim + i] * x[i];
                            b += (double) u[(e * ff + r) * dim + i] * x[i];
                        }
                        h[r] = a / (1 + Math.exp(-a)) * b;
                    }
                    double s = 0;
                    for (int r = 0; r < dim; r++) {
                        double o = 0;
                        for (int j = 0; j < ff; j++) o += (double) d[(e * dim + r) * ff + j] * h[j];
                        s += o * o;
                    }
                    count[e]++;
                    mass[e] += weight;
                    sal[e] += weight * Math.sqrt(s);
                }
            };
            int[] tokens = m.tokenizer().encode(CALIB);
            int chunks = ImatrixCollector.calibrate(m, tokens, 32, 0, both, c -> { });
            assertTrue(chunks >= 3);
        }
        PruneStatistics.Experts e = stats.experts.get(down);
        long pairs = 0;
        for (int i = 0; i < ne; i++) {
            assertEquals(count[i], e.count[i], "frequency of expert " + i);
            assertEquals(mass[i], e.mass[i], 1e-9 * Math.max(1, mass[i]), "mass of expert " + i);
            assertEquals(sal[i], e.saliency[i], 1e-4 * Math.max(1e-6, sal[i]), "saliency of expert " + i);
            pairs += e.count[i];
        }
        assertTrue(pairs > 0 && pairs % TinyDeepseek.USED == 0);
        PruneStatistics.Channels c = stats.channels.get(dense);
        assertEquals(denseRows[0], c.rows);
        for (int j = 0; j < abs.length; j++) assertEquals(abs[j], c.absSum[j], 1e-9 * Math.max(1, abs[j]), "channel " + j);
    }

    @Test
    void hostileArgumentsFailInOneLineAndWriteNothing() throws Exception {
        Path llama = TinyModels.write(tmp, "llama", GgmlType.F32, false, 9);
        Path ds = deepseek(v3NoGroups());
        Path grouped = deepseek(TinyDeepseek.Options.defaults().v3());
        Path out = tmp.resolve("hostile-out.gguf");
        record Case(String why, Path in, Pruner p, String text) {}
        List<Case> cases = new ArrayList<>(List.of(
                new Case("drop every expert", ds, new Pruner().expertsDropFraction(1.0), CALIB),
                new Case("keep no expert", ds, new Pruner().expertsKeep(0), CALIB),
                new Case("keep fewer than used", ds, new Pruner().expertsKeep(1), CALIB),
                new Case("keep more experts than the model has", ds, new Pruner().expertsKeep(9), CALIB),
                new Case("both expert options", ds, new Pruner().expertsKeep(4).expertsDropFraction(0.5), CALIB),
                new Case("experts of a dense model", llama, new Pruner().expertsKeep(2), CALIB),
                new Case("group-limited routing", grouped, new Pruner().expertsKeep(6), CALIB),
                new Case("keep more heads than the model has", llama, new Pruner().headsKeep(8), CALIB),
                new Case("heads not in whole groups", llama, new Pruner().headsKeep(3), CALIB),
                new Case("MLA heads", ds, new Pruner().headsKeep(2), CALIB),
                new Case("zero FFN fraction", llama, new Pruner().ffnKeepFraction(0), CALIB),
                new Case("FFN fraction above 1", llama, new Pruner().ffnKeepFraction(1.5), CALIB),
                new Case("NaN fraction", llama, new Pruner().ffnKeepFraction(Double.NaN), CALIB),
                new Case("calibration of zero tokens", llama, new Pruner().ffnKeepFraction(0.5), ""),
                new Case("calibration of a few tokens", llama, new Pruner().ffnKeepFraction(0.5), "hello world")));
        for (Case c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.p().contextLength(32).prune(c.in(), out, c.text()), c.why());
            assertFalse(e.getMessage().contains("\n"), c.why() + ": one line, got " + e.getMessage());
            assertFalse(Files.exists(out), c.why() + ": nothing written");
        }
        IllegalArgumentException same = assertThrows(IllegalArgumentException.class, () -> new Pruner().ffnKeepFraction(0.5).prune(llama, llama, CALIB));
        assertTrue(same.getMessage().contains("input"), same.getMessage());
        try (Stream<Path> s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    // --- helpers ---

    /** The logits of PROMPT from both models agree within {@code tol} (absolute, at every position and token). */
    private static void assertLogitsClose(Path a, Path b, float tol) throws IOException {
        float[] la, lb;
        int[] ids;
        try (Model m = Model.load(a, Model.Options.defaults().withBackend(Backend.JAVA)); Session s = m.newSession(64)) {
            ids = m.tokenizer().encode(PROMPT);
            la = s.promptLogits(ids);
        }
        try (Model m = Model.load(b, Model.Options.defaults().withBackend(Backend.JAVA)); Session s = m.newSession(64)) {
            lb = s.promptLogits(ids);
        }
        assertEquals(la.length, lb.length);
        float max = 0, scale = 0;
        for (int i = 0; i < la.length; i++) {
            max = Math.max(max, Math.abs(la[i] - lb[i]));
            scale = Math.max(scale, Math.abs(la[i]));
        }
        assertTrue(scale > 0.1f, "logits are not trivial");
        assertTrue(max <= tol * Math.max(1, scale), "max |logit difference| " + max + " (largest logit " + scale + ")");
        assertNotEquals(0, ids.length);
    }

    private static float[] floats(GgufTensor t) {
        assertEquals(GgmlType.F32, t.type());
        return t.data().toArray(ValueLayout.JAVA_FLOAT);
    }

    /** A copy of {@code src} whose F32 tensors pass through {@code edit} (name, values), plus zero F32 tensors {@code extra}. */
    private static void rewrite(Path src, Path dst, Map<String, long[]> extra, BiConsumer<String, float[]> edit) throws IOException {
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufWriter w = new GgufWriter();
            GgufMetadata md = f.metadata();
            for (String k : md.keys()) w.put(k, md.typeOf(k), md.get(k));
            for (GgufTensor t : f.tensors()) {
                if (t.type() != GgmlType.F32) {
                    w.addTensor(t.name(), t.typeId(), t.shape(), t.data());
                    continue;
                }
                float[] v = t.data().toArray(ValueLayout.JAVA_FLOAT);
                edit.accept(t.name(), v);
                w.addTensor(t.name(), GgmlType.F32, t.shape(), arena.allocateFrom(ValueLayout.JAVA_FLOAT, v));
            }
            for (Map.Entry<String, long[]> e : extra.entrySet()) {
                long n = 1;
                for (long s : e.getValue()) n *= s;
                float[] v = new float[(int) n];
                edit.accept(e.getKey(), v);
                w.addTensor(e.getKey(), GgmlType.F32, e.getValue(), arena.allocateFrom(ValueLayout.JAVA_FLOAT, v));
            }
            w.write(dst);
        }
    }
}
