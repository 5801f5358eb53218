package dev.panamax.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.gguf.GgufFile;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;

/** What the forward-pass tests of every architecture do alike: run a model on a prompt, compare logits, skip native. */
final class StateHarness {
    private StateHarness() {}

    /** Logits [n][vocab] of the tokens run through a fresh state (context nCtx) of the model in batches of {@code batch}. */
    static float[] run(Path model, Supplier<Kernels> kernels, int nCtx, int batch, GgmlType kv, int[] tokens) throws Exception {
        try (GgufFile f = GgufFile.open(model); Kernels k = kernels.get();
             ModelState s = ModelWeights.load(f).newState(k, nCtx, batch, kv)) {
            return feed(s, tokens, batch);
        }
    }

    /**
     * Logits [n][vocab] of the tokens appended to the state in batches of {@code batch}, checking that each step's
     * last-position logits are its last all-positions row and that the position advances by the tokens fed.
     */
    static float[] feed(ModelState s, int[] tokens, int batch) {
        int v = s.vocabSize(), p0 = s.position();
        float[] out = new float[tokens.length * v];
        for (int off = 0; off < tokens.length; off += batch) {
            int n = Math.min(batch, tokens.length - off);
            s.forward(tokens, off, n, true);
            MemorySegment.copy(s.allLogits(), ValueLayout.JAVA_FLOAT, 0, out, off * v, n * v);
            float[] last = new float[v];
            MemorySegment.copy(s.logits(), ValueLayout.JAVA_FLOAT, 0, last, 0, v);
            for (int i = 0; i < v; i++) assertEquals(out[(off + n - 1) * v + i], last[i], 0f, "last-position logits = last row");
        }
        assertEquals(p0 + tokens.length, s.position());
        return out;
    }

    /** Every logit finite, and max |a - b| within tol. */
    static void assertClose(float[] a, float[] b, float tol, String what) {
        assertEquals(a.length, b.length);
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            assertTrue(Float.isFinite(a[i]) && Float.isFinite(b[i]), what + ": non-finite logit at " + i);
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        assertTrue(max <= tol, what + ": max |diff| " + max + " > " + tol);
    }

    /** Kernels of the backend; a test that asks for the native backend where the library is missing is skipped, not failed. */
    static Kernels kernels(Backend b, int threads) {
        try {
            return KernelsProvider.create(b, threads);
        } catch (UnsatisfiedLinkError | IllegalStateException e) {
            Assumptions.assumeTrue(false, "native library unavailable: " + e.getMessage());
            throw e;
        }
    }

    static boolean nativeAvailable() {
        try (Kernels k = KernelsProvider.create(Backend.NATIVE, 1)) {
            return k.backend() == Backend.NATIVE;
        } catch (UnsatisfiedLinkError | IllegalStateException e) {
            return false;
        }
    }
}
