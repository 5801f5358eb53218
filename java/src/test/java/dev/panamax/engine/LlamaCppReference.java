package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.Backend;
import dev.panamax.sampling.SamplingParams;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * The llama.cpp reference toolkit (../shared/tools/llamacpp-ref, installed by its setup.sh) as conformance tests use
 * it: its fixtures, its llref driver (flash attention on), and the agreement metric of cmp_logits.py — mean KL(ref ||
 * ours) per position, and argmax agreement where the reference top-2 margin exceeds 1% of the largest |logit|.
 * Tests that use it are skipped (with the reason) when the toolkit is absent: system property
 * {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref.
 */
final class LlamaCppReference {

    static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));

    private LlamaCppReference() {}

    /** A fixture of the toolkit's models/ directory; skips the test when the toolkit is absent. */
    static Path fixture(String name) {
        Path m = REF.resolve("models/" + name + ".gguf");
        assumePresent(m);
        return m;
    }

    static void assumePresent(Path... files) {
        Assumptions.assumeTrue(Files.isExecutable(REF.resolve("bin/llref")), "llama.cpp reference toolkit not found at "
                + REF + " (set -Dpanamax.llamacpp.ref or run ../shared/tools/llamacpp-ref/setup.sh)");
        for (Path f : files) {
            Assumptions.assumeTrue(Files.isRegularFile(f), "reference file missing: " + f.toAbsolutePath().normalize()
                    + " (the toolkit's tools are found through -Dpanamax.llamacpp.tools)");
        }
    }

    static String run(String tool, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(tool));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", REF.resolve("src/gguf-py").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), tool + " failed: " + out);
        return out;
    }

    static String llref(String... args) throws IOException, InterruptedException {
        return run(REF.resolve("bin/llref").toString(), args);
    }

    static int[] ids(String out, String label) {
        Matcher mt = Pattern.compile(label + " \\(\\d+\\):([ 0-9]*)").matcher(out);
        assertTrue(mt.find(), "no '" + label + "' in llref output:\n" + out);
        String list = mt.group(1).trim();
        return list.isEmpty() ? new int[0] : Arrays.stream(list.split(" +")).mapToInt(Integer::parseInt).toArray();
    }

    /** Agreement of our logits with llama.cpp's on one prompt. */
    record Agreement(int positions, double meanKl, int clear, int agree) {
        void check(double maxKl, double minAgree) {
            assertTrue(meanKl <= maxKl, "mean KL " + meanKl + " > " + maxKl);
            assertTrue(clear == 0 || agree >= minAgree * clear, "clear argmax agrees at " + agree + "/" + clear);
        }
    }

    /** Logits of every prompt position from llref and from Panamax (after checking the tokenization), compared. */
    static Agreement compareLogits(Path model, String prompt, Backend backend, Path tmp) throws Exception {
        return compareLogits(model, model, prompt, backend, tmp);
    }

    /**
     * As {@link #compareLogits(Path, String, Backend, Path)}, llama.cpp running {@code refModel} and Panamax
     * {@code ourModel} (a variant of it with the same vocabulary): lets a test show that a difference matters.
     */
    static Agreement compareLogits(Path refModel, Path ourModel, String prompt, Backend backend, Path tmp) throws Exception {
        RefLogits r = refLogits(refModel, prompt, tmp.resolve("ref.f32"));
        int[] ids = r.ids();
        float[] ref = r.logits();
        Path model = ourModel;
        try (Model m = Model.load(model, Model.Options.defaults().withBackend(backend).withThreads(2));
             Session s = m.newSession(256)) {
            assertArrayEquals(ids, m.tokenizer().encode(prompt), "tokenization differs from llama.cpp");
            float[] ours = s.promptLogits(ids);
            assertEquals(ref.length, ours.length);
            Agreement a = agreement(ref, ours, ids.length, m.vocabSize());
            System.out.printf("conformance %s %s (%s): %d positions, mean KL %.2e, clear argmax %d/%d%n",
                    model.getFileName(), backend == null ? "auto" : backend, s.kernelsName(), a.positions(), a.meanKl(),
                    a.agree(), a.clear());
            return a;
        }
    }

    /**
     * The agreement of two logits dumps of {@code rows} positions: mean KL(ref || ours), and argmax agreement at the
     * positions where the reference's top-2 margin exceeds 1% of its largest |logit|.
     */
    static Agreement agreement(float[] ref, float[] ours, int rows, int v) {
        double klSum = 0;
        int clear = 0, agree = 0;
        for (int r = 0; r < rows; r++) {
            klSum += kl(ref, ours, r * v, v);
            int ra = argmax(ref, r * v, v), oa = argmax(ours, r * v, v);
            float maxAbs = 0, top1 = Float.NEGATIVE_INFINITY, top2 = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < v; i++) {
                float x = ref[r * v + i];
                maxAbs = Math.max(maxAbs, Math.abs(x));
                if (x > top1) { top2 = top1; top1 = x; } else if (x > top2) top2 = x;
            }
            if (top1 - top2 > 0.01f * maxAbs) {
                clear++;
                if (ra == oa) agree++;
            }
        }
        return new Agreement(rows, klSum / rows, clear, agree);
    }

    /** Prompt token ids and the logits of every prompt position, from llref (flash attention on, 2 threads). */
    record RefLogits(int[] ids, float[] logits) {}

    static RefLogits refLogits(Path model, String prompt, Path out) throws Exception {
        int[] ids = ids(llref("-m", model.toString(), "-p", prompt, "--logits", out.toString(), "--fa", "1", "-n", "1",
                "-T", "2", "--no-warmup"), "prompt tokens");
        return new RefLogits(ids, floats(out));
    }

    /** Prompt token ids and the n greedy tokens llref continues them with. */
    static int[][] refGreedy(Path model, String prompt, int n) throws Exception {
        String out = llref("-m", model.toString(), "-p", prompt, "-n", String.valueOf(n), "--fa", "1", "-T", "2", "--no-warmup");
        return new int[][] {ids(out, "prompt tokens"), ids(out, "generated ids")};
    }

    /** Files made from the toolkit's, kept in the temp directory between runs; the toolkit's own files are read-only to us. */
    static final Path MADE = Path.of(System.getProperty("java.io.tmpdir"), "panamax-llamacpp-fixtures");

    /**
     * A model that the toolkit's make_tiny_gguf.py writes ({@code arch}, the vocabulary of src/models/{@code vocab},
     * {@code args}) as {@code base}-HASH-f32.gguf (HASH: of the arguments), then quantized by llama.cpp's llquant to
     * {@code type} unless it is f32; each file made once ({@link #MADE}). Skips the test when the toolkit is absent.
     */
    static synchronized Path made(String base, String type, String arch, String vocab, List<String> args) throws Exception {
        Path vocabFile = REF.resolve("src/models/" + vocab);
        Path script = Path.of(System.getProperty("panamax.llamacpp.tools", "../../shared/tools/llamacpp-ref"), "make_tiny_gguf.py");
        assumePresent(vocabFile, script);
        Files.createDirectories(MADE);
        base = base + "-" + Integer.toHexString(args.hashCode()); // a file made with other arguments is another file
        Path out = MADE.resolve(base + "-" + type + ".gguf");
        if (Files.isRegularFile(out)) return out;
        Path f32 = MADE.resolve(base + "-f32.gguf");
        if (!Files.isRegularFile(f32)) {
            List<String> cmd = new ArrayList<>(List.of(script.toString(), arch, f32 + ".partial", "--vocab", vocabFile.toString()));
            cmd.addAll(args);
            run("python3", cmd.toArray(String[]::new));
            Files.move(Path.of(f32 + ".partial"), f32);
        }
        return type.equals("f32") ? f32 : quantized(f32, type, base);
    }

    /** {@code f32} quantized by llama.cpp's llquant to {@code type}, as MADE/{@code base}-{@code type}.gguf, made once. */
    static synchronized Path quantized(Path f32, String type, String base) throws Exception {
        assumePresent(f32);
        Files.createDirectories(MADE);
        Path out = MADE.resolve(base + "-" + type + ".gguf");
        if (!Files.isRegularFile(out)) {
            run(REF.resolve("bin/llquant").toString(), f32.toString(), out + ".partial", type);
            Files.move(Path.of(out + ".partial"), out);
        }
        return out;
    }

    /**
     * Mean KL between llama.cpp's own two attention modes (flash attention on vs off) on this prompt: the spread that
     * floating-point order alone causes in this model.
     */
    static double llamaCppSelfKl(Path model, String prompt, Path tmp) throws Exception {
        Path a = tmp.resolve("fa1.f32"), b = tmp.resolve("fa0.f32");
        llref("-m", model.toString(), "-p", prompt, "--logits", a.toString(), "--fa", "1", "-n", "1", "-T", "2", "--no-warmup");
        llref("-m", model.toString(), "-p", prompt, "--logits", b.toString(), "--fa", "0", "-n", "1", "-T", "2", "--no-warmup");
        float[] x = floats(a), y = floats(b);
        int rows = ids(llref("-m", model.toString(), "-p", prompt, "-n", "1", "-T", "2", "--no-warmup"), "prompt tokens").length;
        int v = x.length / rows;
        double sum = 0;
        for (int r = 0; r < rows; r++) sum += kl(x, y, r * v, v);
        System.out.printf("llama.cpp flash attention on vs off, %s: mean KL %.2e%n", model.getFileName(), sum / rows);
        return sum / rows;
    }

    /** Greedy continuation of n tokens by llama.cpp and by Panamax must be identical. */
    static void checkGreedy(Path model, String prompt, int n) throws Exception {
        String out = llref("-m", model.toString(), "-p", prompt, "-n", String.valueOf(n), "--fa", "1", "-T", "2", "--no-warmup");
        int[] ids = ids(out, "prompt tokens"), gen = ids(out, "generated ids");
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(2)); Session s = m.newSession(256)) {
            Generation g = s.generate(prompt, n, SamplingParams.greedy(), null);
            assertArrayEquals(ids, g.promptTokens());
            assertArrayEquals(gen, g.tokens());
        }
    }

    static float[] floats(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        float[] f = new float[b.remaining() / 4];
        b.asFloatBuffer().get(f);
        return f;
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** KL(p || q) of the softmaxes of two logit rows, in double. */
    static double kl(float[] a, float[] b, int off, int n) {
        double ma = Double.NEGATIVE_INFINITY, mb = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) { ma = Math.max(ma, a[off + i]); mb = Math.max(mb, b[off + i]); }
        double sa = 0, sb = 0;
        for (int i = 0; i < n; i++) { sa += Math.exp(a[off + i] - ma); sb += Math.exp(b[off + i] - mb); }
        double lsa = Math.log(sa), lsb = Math.log(sb), kl = 0;
        for (int i = 0; i < n; i++) {
            double la = a[off + i] - ma - lsa, lb = b[off + i] - mb - lsb;
            kl += Math.exp(la) * (la - lb);
        }
        return kl;
    }
}
