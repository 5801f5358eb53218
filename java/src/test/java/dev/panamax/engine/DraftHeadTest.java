package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.PackedWeights;
import dev.panamax.model.Weight;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The draft's head restricted to the engine's most frequent tokens, against a brute-force head over the same weights. */
class DraftHeadTest {

    static final int VOCAB = 96, DIM = 64, SUBSET = 32, ROWS = 3;

    @ParameterizedTest
    @CsvSource({"NATIVE, F32", "NATIVE, Q8_0", "NATIVE, F16", "JAVA, Q8_0"})
    void guessesTheBestOfTheMostFrequentTokens(Backend backend, GgmlType type) {
        SplittableRandom r = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined(); Kernels k = KernelsProvider.create(backend, 1)) {
            MemorySegment f = arena.allocate(4L * VOCAB * DIM, 64);
            for (long i = 0; i < (long) VOCAB * DIM; i++) f.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            MemorySegment w = f;
            if (type != GgmlType.F32) {
                w = arena.allocate(type.rowBytes(DIM) * VOCAB, 64);
                k.quantize(type, w, f, VOCAB, DIM);
            }
            Weight head = new Weight("output.weight", type, VOCAB, DIM, w);
            MemorySegment hidden = arena.allocate(4L * ROWS * DIM, 64);
            for (long i = 0; i < (long) ROWS * DIM; i++) hidden.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            MemorySegment all = arena.allocate(4L * ROWS * VOCAB, 64); // the whole head, as the kernels compute it
            k.matmul(type, w, VOCAB, DIM, hidden, ROWS, all);
            try (DraftHead h = new DraftHead(k, head, PackedWeights.NONE, SUBSET, ROWS)) {
                // before FIRST_CHOICE tokens are counted: the whole vocabulary
                for (int id = 0; id < VOCAB; id++) h.count(id);
                h.run(hidden, ROWS);
                assertFalse(h.restricted());
                for (int row = 0; row < ROWS; row++) assertEquals(best(all, row, null), h.argmax(row));
                // counts: id 3t+1 most (more for higher t), then a tie among all others; the subset takes the SUBSET
                // most counted, ties to the lower id
                for (int t = 0; t < VOCAB / 3; t++) for (int c = 0; c < 40 + t; c++) h.count(3 * t + 1);
                h.run(hidden, ROWS);
                assertTrue(h.restricted());
                int[] want = new int[SUBSET];
                for (int i = 0; i < SUBSET; i++) want[i] = 3 * i + 1; // VOCAB / 3 = SUBSET of them, all above the tie
                assertArrayEquals(want, h.subset());
                for (int row = 0; row < ROWS; row++) {
                    int id = h.argmax(row);
                    assertEquals(best(all, row, want), id, "row " + row);
                    // p(top) within the subset: softmax over its logits
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int s : want) max = Math.max(max, logit(all, row, s));
                    for (int s : want) sum += Math.exp(logit(all, row, s) - max);
                    assertEquals(Math.exp(logit(all, row, id) - max) / sum, h.topProbability(row), 1e-3, "row " + row);
                }
                assertEquals(1, h.choices());
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"0", "64"})
    void aSmallVocabularyOrNoSubsetKeepsTheWholeHead(int tokens) {
        try (Arena arena = Arena.ofConfined(); Kernels k = KernelsProvider.create(Backend.JAVA, 1)) {
            Weight head = new Weight("output.weight", GgmlType.F32, VOCAB, DIM, arena.allocate(4L * VOCAB * DIM, 64));
            try (DraftHead h = new DraftHead(k, head, PackedWeights.NONE, tokens, 1)) { // 64 > VOCAB / 2
                for (int i = 0; i < 4 * DraftHead.FIRST_CHOICE; i++) h.count(i % VOCAB);
                h.run(arena.allocate(4L * DIM, 64), 1);
                assertFalse(h.restricted());
            }
            assertThrows(IllegalArgumentException.class, () -> new DraftHead(k, head, PackedWeights.NONE, 40, 1));
        }
    }

    private static float logit(MemorySegment all, int row, int id) {
        return all.getAtIndex(ValueLayout.JAVA_FLOAT, (long) row * VOCAB + id);
    }

    /** The id of the largest logit of the row among ids (all when null), the first on ties. */
    private static int best(MemorySegment all, int row, int[] ids) {
        int best = -1;
        for (int i = 0; i < (ids == null ? VOCAB : ids.length); i++) {
            int id = ids == null ? i : ids[i];
            if (best < 0 || logit(all, row, id) > logit(all, row, best)) best = id;
        }
        return best;
    }
}
