package dev.panamax.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.gguf.GgufFile;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Packed weights end to end on the native backend: which matrices get packed (Q4_0/Q8_0/Q4_K/Q6_K/IQ4_NL/IQ4_XS, BF16
 * with AVX512_BF16, rows a multiple of 16, where the kernels prefer it), that a forward pass on them gives the logits of the weights as stored,
 * and that bad sizes are refused before any downcall. On a CPU whose kernels prefer no packing (no AVX-512 VNNI) nothing is packed, which the
 * test checks as well; the packed kernels of every ISA are held against the reference in native/tests/test_matmul.c.
 */
class PackedWeightsTest {

    @TempDir
    static Path dir;

    static final int[] PROMPT = {1, 17, 260, 45, 99, 3, 280, 120, 7, 64, 33};

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q8_0", "IQ4_NL", "BF16"})
    void packedForwardMatchesStored(GgmlType type) throws Exception {
        Path m = TinyModels.write(dir, "llama", type, false, 11);
        try (GgufFile f = GgufFile.open(m); Kernels k = StateHarness.kernels(dev.panamax.Backend.NATIVE, 2)) {
            ModelWeights stored = ModelWeights.load(f), packed = ModelWeights.load(f);
            packed.pack(k);
            boolean preferred = k.packedBytes(type, 64, 64) > 0;
            // per layer wq 64, wk 32, wv 32, wo 64, gate 128, up 128, down 64 rows: all multiples of 16; the head's 300
            // rows are not, so it stays as stored
            assertEquals(preferred ? 2 * 7 : 0, packed.packed().count(), "packed matrices");
            assertSame(PackedWeights.NONE, stored.packed());
            for (int batch : new int[] {1, 4, PROMPT.length}) {
                float[] a, b;
                try (ModelState s = stored.newState(k, 64, batch, GgmlType.F32)) {
                    a = StateHarness.feed(s, PROMPT, batch);
                }
                try (ModelState s = packed.newState(k, 64, batch, GgmlType.F32)) {
                    b = StateHarness.feed(s, PROMPT, batch);
                }
                // same integer block sums and scales; only the float summation order of the block terms differs
                StateHarness.assertClose(a, b, 2e-3f, type + " batch " + batch + " packed vs stored");
            }
            packed.packed().close();
        }
    }

    /**
     * A fused group (Q, K and V packed one after the other) through matmulPackedEp with its parts, bias and GELU: the
     * same floats as each matrix's own packed copy through matmulPacked, then addRows and gelu (the C test holds every
     * ISA's kernels to this bit for bit; this one the Java side: slices, offsets, strides).
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "BF16"})
    void fusedGroupWithEpilogueMatchesSeparateProducts(GgmlType type) throws Exception {
        int rows = 48, cols = 64, batch = 7;
        try (NativeKernels k = new NativeKernels(2); Arena a = Arena.ofShared()) {
            Weight[] w = new Weight[3];
            java.util.SplittableRandom r = new java.util.SplittableRandom(3);
            for (int i = 0; i < 3; i++) {
                MemorySegment f = a.allocate(4L * rows * cols, 64), q = a.allocate(type.rowBytes(cols) * rows, 64);
                for (long j = 0; j < (long) rows * cols; j++) f.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, j, (float) r.nextGaussian() * 0.1f);
                k.quantize(type, q, f, rows, cols);
                w[i] = new Weight("w" + i, type, rows, cols, q);
            }
            // the originals kept (read as stored): their pages are the arena's, not a file's
            PackedWeights p = PackedWeights.pack(java.util.List.of(w), java.util.List.of(w), k, java.util.List.of(java.util.List.of(w)));
            if (k.packedBytes(type, rows, cols) == 0) { // no packed layout on this CPU (BF16 without AVX512_BF16): nothing fused
                assertSame(PackedWeights.NONE, p);
                return;
            }
            MemorySegment all = p.fused(w[0]);
            assertNotNull(all);
            assertEquals(3 * k.packedBytes(type, rows, cols), all.byteSize());
            assertNull(p.fused(w[1]), "a group is found by its first matrix");
            MemorySegment x = a.allocate(4L * batch * cols, 64), bias = a.allocate(4L * 3 * rows, 64);
            for (long j = 0; j < (long) batch * cols; j++) x.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, j, (float) r.nextGaussian());
            for (long j = 0; j < 3L * rows; j++) bias.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, j, (float) r.nextGaussian());
            long stride = (long) rows * batch + 5;
            for (boolean gelu : new boolean[] {false, true}) {
                MemorySegment y = a.allocate(4L * 3 * stride, 64), want = a.allocate(4L * rows * batch, 64);
                k.matmulPackedEp(type, all, 3 * rows, cols, x, batch, y, rows, stride, bias, gelu);
                for (int i = 0; i < 3; i++) {
                    MemorySegment b = bias.asSlice(4L * i * rows, 4L * rows);
                    k.matmulPacked(type, p.get(w[i]), rows, cols, x, batch, want);
                    if (gelu) k.gelu(want, b, rows, batch);
                    else k.addRows(want, b, rows, batch);
                    assertEquals(-1, want.mismatch(y.asSlice(4L * i * stride, 4L * rows * batch)), type + " part " + i + " gelu " + gelu);
                    assertEquals(0f, y.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i * stride + (long) rows * batch), "nothing past the part");
                }
            }
            MemorySegment y = a.allocate(4L * 3 * rows * batch, 64);
            assertThrows(IllegalArgumentException.class, () -> k.matmulPackedEp(type, all, 3 * rows, cols, x, batch, y, rows, rows * batch - 1, null, false), "overlapping parts");
            assertThrows(IllegalArgumentException.class, () -> k.matmulPackedEp(type, all, 3 * rows, cols, x, batch, y, 24, 24L * batch, null, false), "parts of 24 rows");
            assertThrows(IllegalArgumentException.class, () -> k.matmulPackedEp(type, all, 3 * rows, cols, x, batch, y, rows, rows * batch, bias.asSlice(0, 4), false), "bias too short");
            p.close();
        }
    }

    @Test
    void badSizesAreRefusedBeforeTheDowncall() {
        try (NativeKernels k = new NativeKernels(1); Arena a = Arena.ofConfined()) {
            MemorySegment w = a.allocate(GgmlType.Q4_0.rowBytes(64) * 32, 64);
            assertEquals(0, k.packedBytes(GgmlType.Q4_0, 17, 64), "17 rows: no packed layout");
            assertEquals(0, k.packedBytes(GgmlType.Q5_0, 32, 256), "Q5_0: no packed layout");
            MemorySegment small = a.allocate(GgmlType.Q4_0.rowBytes(64) * 31, 64);
            assertThrows(IllegalArgumentException.class, () -> k.pack(GgmlType.Q4_0, small, w, 32, 64));
            assertThrows(IllegalArgumentException.class, () -> k.pack(GgmlType.Q4_0, w, small, 32, 64), "W too small");
            assertThrows(IllegalArgumentException.class, () -> k.pack(GgmlType.Q4_0, w, w, 17, 64), "17 rows");
            MemorySegment x = a.allocate(4L * 64, 64), y = a.allocate(4L * 31, 64);
            assertThrows(IllegalArgumentException.class, () -> k.matmulPacked(GgmlType.Q4_0, w, 32, 64, x, 1, y), "y too small");
        }
    }
}
