package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.kernels.Backend;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Logits and greedy tokens against llama.cpp (llref, flash attention on) on the reference toolkit's tiny-llama files.
 * Runs only when the toolkit is present (system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref).
 * Metric as cmp_logits.py: mean KL(ref || ours) per position, and argmax agreement where the reference top-2 margin
 * exceeds 1% of the largest |logit|.
 */
class LlamaConformanceTest {

    static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));
    static final String PROMPT = "Once upon a time, in a small village, there lived a curious girl named Lily. "
            + "She loved to explore the forest near her home.";

    @TempDir
    Path tmp;

    static Path model(String q) {
        Path llref = REF.resolve("bin/llref"), m = REF.resolve("models/tiny-llama-" + q + ".gguf");
        Assumptions.assumeTrue(Files.isExecutable(llref) && Files.isRegularFile(m),
                "llama.cpp reference toolkit not found at " + REF + " (set -Dpanamax.llamacpp.ref or run setup.sh)");
        return m;
    }

    static String llref(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(REF.resolve("bin/llref").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "llref failed: " + out);
        return out;
    }

    static int[] ids(String out, String label) {
        Matcher mt = Pattern.compile(label + " \\(\\d+\\):([ 0-9]*)").matcher(out);
        assertTrue(mt.find(), "no '" + label + "' in llref output:\n" + out);
        return Arrays.stream(mt.group(1).trim().split(" +")).mapToInt(Integer::parseInt).toArray();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"f32,native,1e-4,0.98", "f16,native,1e-4,0.98", "bf16,native,1e-3,0.95", "q8_0,native,1e-2,0.95",
            "q4_0,native,1e-2,0.95", "q4_k_m,native,1e-2,0.95", "q6_k,native,1e-2,0.95",
            "f32,java,1e-4,0.98", "q8_0,java,1e-2,0.95",
            // not among setup.sh's fixtures: llquant tiny-llama-f32.gguf tiny-llama-q5_0.gguf q5_0
            "q5_0,native,1e-2,0.95", "q5_0,java,1e-2,0.95"})
    void logitsMatchLlamaCpp(String q, String backend, double maxKl, double minAgree) throws Exception {
        Path m = model(q);
        Path refOut = tmp.resolve("ref.f32");
        int[] prompt = ids(llref("-m", m.toString(), "-p", PROMPT, "--logits", refOut.toString(), "--fa", "1", "-n", "1",
                "-T", "2", "--no-warmup"), "prompt tokens");
        float[] ref = floats(refOut);
        try (Model model = Model.load(m, Model.Options.defaults().withBackend(Backend.parse(backend)).withThreads(2));
             Session s = model.newSession(256)) {
            assertArrayEquals(prompt, model.tokenizer().encode(PROMPT), "tokenization differs from llama.cpp");
            float[] ours = s.promptLogits(prompt);
            int v = model.config().vocabSize();
            assertEquals(ref.length, ours.length);
            double klSum = 0;
            int clear = 0, agree = 0;
            for (int r = 0; r < prompt.length; r++) {
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
            double meanKl = klSum / prompt.length;
            System.out.printf("conformance tiny-llama-%s %s (%s): %d positions, mean KL %.2e, clear argmax %d/%d%n", q, backend,
                    s.kernelsName(), prompt.length, meanKl, agree, clear);
            assertTrue(meanKl <= maxKl, "mean KL " + meanKl + " > " + maxKl);
            assertTrue(clear == 0 || agree >= minAgree * clear, "clear argmax agrees at " + agree + "/" + clear);
        }
    }

    @Test
    void greedyTokensMatchLlamaCpp() throws Exception {
        Path m = model("f32");
        String out = llref("-m", m.toString(), "-p", PROMPT, "-n", "16", "--fa", "1", "-T", "2", "--no-warmup");
        int[] prompt = ids(out, "prompt tokens"), gen = ids(out, "generated ids");
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(2)); Session s = model.newSession(256)) {
            Generation g = s.generate(PROMPT, 16, SamplingParams.greedy(), null);
            assertArrayEquals(prompt, g.promptTokens());
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
