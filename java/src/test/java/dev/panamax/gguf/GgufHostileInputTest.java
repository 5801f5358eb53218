package dev.panamax.gguf;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.tensor.GgmlType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Malformed files end in GgufFormatException, never in another exception, an allocation or a crash. */
class GgufHostileInputTest {

    @TempDir
    Path dir;

    /** Hand-assembled little-endian GGUF bytes. */
    static final class Raw {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Raw bytes(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        Raw u32(long v) {
            return bytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        Raw u64(long v) {
            return bytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }

        Raw str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return u64(b.length).bytes(b);
        }

        Raw header(long version, long nTensors, long nKv) {
            return bytes("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version).u64(nTensors).u64(nKv);
        }

        /** A tensor info. */
        Raw tensor(String name, int type, long offset, long... shape) {
            str(name).u32(shape.length);
            for (long d : shape) u64(d);
            return u32(type).u64(offset);
        }

        Raw zeros(int n) {
            return bytes(new byte[n]);
        }

        /** Zero padding to a multiple of a. */
        Raw pad(int a) {
            return zeros((a - out.size() % a) % a);
        }

        byte[] build() {
            return out.toByteArray();
        }
    }

    static GgufFile parse(byte[] b) throws GgufFormatException {
        return GgufFile.parse(MemorySegment.ofArray(b));
    }

    static void rejects(byte[] b, String... fragments) {
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> parse(b));
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    /** A small valid file with every kind of section, as the writer makes it. */
    byte[] validFile() throws IOException {
        Path p = dir.resolve("valid.gguf");
        new GgufWriter()
                .putString("general.architecture", "llama")
                .putUInt32("llama.context_length", 128)
                .putFloat32("eps", 1e-5f)
                .putBool("b", true)
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, List.of("<s>", "é", ""))
                .putArray("scores", GgufValueType.FLOAT32, new float[] {1, 2, 3})
                .put("nest", GgufArray.of(GgufValueType.ARRAY, List.of(GgufArray.of(GgufValueType.STRING, List.of("x")))))
                .addTensor("a", GgmlType.F32, new long[] {3, 2}, GgufRoundTripTest.bytes(24, 1))
                .addTensor("q", GgmlType.Q8_0, new long[] {32}, GgufRoundTripTest.bytes(34, 2))
                .write(p);
        return Files.readAllBytes(p);
    }

    @Test
    void validFixtureParses() throws IOException {
        try (GgufFile f = parse(validFile())) {
            assertEquals(2, f.tensors().size());
            assertEquals("llama", f.metadata().getString("general.architecture"));
        }
    }

    @Test
    void everyTruncationIsRejected() throws IOException {
        byte[] full = validFile();
        long dataEnd;
        try (GgufFile f = parse(full)) {
            GgufTensor last = f.tensors().getLast();
            dataEnd = f.dataOffset() + last.offset() + last.byteSize();
        }
        for (int len = 0; len < full.length; len++) {
            byte[] prefix = Arrays.copyOf(full, len);
            if (len < dataEnd) {
                int n = len;
                assertThrows(GgufFormatException.class, () -> parse(prefix), () -> "prefix of " + n + " bytes");
            } else {
                // only the padding after the last tensor is cut: llama.cpp loads such a file, so do we
                try (GgufFile f = parse(prefix)) {
                    assertEquals(2, f.tensors().size());
                }
            }
        }
    }

    @Test
    void badMagicAndVersions() {
        rejects(new byte[0], "too short");
        rejects("GGUX".getBytes(StandardCharsets.US_ASCII), "bad magic", "GGUX");
        rejects(new Raw().header(1, 0, 0).build(), "version 1");
        rejects(new Raw().header(4, 0, 0).build(), "version 4");
        rejects(new Raw().header(0x03000000L, 0, 0).build(), "big-endian");
        assertDoesNotThrow(() -> parse(new Raw().header(2, 0, 0).build()));
        assertDoesNotThrow(() -> parse(new Raw().header(3, 0, 0).build()));
    }

    @Test
    void hugeCountsFailWithoutAllocating() {
        rejects(new Raw().header(3, 1L << 62, 0).build(), "tensor count");
        rejects(new Raw().header(3, 0, 1L << 40).build(), "metadata count");
        rejects(new Raw().header(3, -1, 0).build(), "tensor count 18446744073709551615");
        rejects(new Raw().header(3, 0, 1).u64(1L << 60).zeros(32).build(), "string length 1152921504606846976");
        rejects(new Raw().header(3, 0, 1).str("k").u32(9).u32(0).u64(1L << 62).zeros(32).build(), "'k'", "array of 4611686018427387904");
        rejects(new Raw().header(3, 0, 1).str("k").u32(9).u32(8).u64(100).zeros(64).build(), "'k'", "array of 100 STRING");
        // each string length is checked against what remains
        rejects(new Raw().header(3, 0, 1).str("k").u32(9).u32(8).u64(2).u64(1).bytes(new byte[] {'a'}).u64(1L << 40).build(), "string length");
    }

    @Test
    void nestingDepthIsLimited() throws IOException {
        // the value of an ARRAY key is (element type, count, elements); an element array omits the ARRAY tag
        Raw ok = new Raw().header(3, 0, 1).str("k").u32(9);
        for (int i = 0; i < 8; i++) ok.u32(9).u64(1);
        ok.u32(0).u64(0); // innermost: an empty UINT8 array
        // 8 arrays of arrays + the innermost = 9 levels: one too many
        rejects(ok.build(), "nested deeper than 8");
        Raw ok2 = new Raw().header(3, 0, 1).str("k").u32(9);
        for (int i = 0; i < 7; i++) ok2.u32(9).u64(1);
        ok2.u32(0).u64(0);
        try (GgufFile f = parse(ok2.build())) {
            Object v = f.metadata().get("k");
            for (int i = 0; i < 7; i++) v = ((GgufArray) v).get(0);
            assertEquals(GgufValueType.UINT8, ((GgufArray) v).elementType());
        }
        // a deep chain that is also long must not recurse out of the stack
        Raw deep = new Raw().header(3, 0, 1).str("k").u32(9);
        for (int i = 0; i < 100_000; i++) deep.u32(9).u64(1);
        rejects(deep.build(), "nested deeper");
    }

    @Test
    void unknownTypes() {
        rejects(new Raw().header(3, 0, 1).str("k").u32(13).u32(0).build(), "'k'", "unknown value type 13");
        rejects(new Raw().header(3, 0, 1).str("k").u32(-1).u32(0).build(), "'k'", "unknown value type 4294967295");
        rejects(new Raw().header(3, 0, 1).str("k").u32(9).u32(1L << 31).u64(0).build(), "'k'", "unknown value type 2147483648");
        rejects(new Raw().header(3, 0, 1).str("k").u32(9).u32(77).u64(0).build(), "'k'", "unknown value type 77");
        for (int removed : new int[] {4, 5, 31, 36, 43, 1000, -1}) {
            rejects(new Raw().header(3, 1, 0).tensor("t", removed, 0, 32).pad(32).zeros(4096).build(), "'t'",
                    "unknown ggml type " + Integer.toUnsignedString(removed));
        }
    }

    @Test
    void badShapes() {
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, 1, 1, 1, 1, 1).pad(32).zeros(64).build(), "'t'", "5 dims");
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, 1L << 32, 1L << 32).pad(32).zeros(64).build(), "'t'", "2^63");
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, -5).pad(32).zeros(64).build(), "'t'", "negative");
        // 2^61 f32 elements: the count fits, the byte size does not
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, 1L << 61).pad(32).zeros(64).build(), "'t'", "overflows");
        rejects(new Raw().header(3, 1, 0).tensor("t", GgmlType.Q8_0.id(), 0, 31).pad(32).zeros(64).build(), "'t'", "block size 32");
        rejects(new Raw().header(3, 1, 0).tensor("x".repeat(64), 0, 0, 1).pad(32).zeros(64).build(), "exceeds ggml's 63");
    }

    @Test
    void badPlacement() {
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, 16).pad(32).zeros(63).build(), "'t'", "past the end");
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 1L << 40, 1).pad(32).zeros(64).build(), "'t'", "past the end");
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, -32, 1).pad(32).zeros(64).build(), "'t'", "offset");
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 16, 1).pad(32).zeros(64).build(), "'t'", "not a multiple of the alignment 32");
        rejects(new Raw().header(3, 2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 16).pad(32).zeros(128).build(), "'b'", "overlaps tensor 'a'");
        rejects(new Raw().header(3, 2, 0).tensor("a", 0, 32, 8).tensor("b", 0, 0, 16).pad(32).zeros(128).build(), "'a'", "overlaps tensor 'b'");
        // header ends where the padded data section would begin past EOF
        rejects(new Raw().header(3, 1, 0).tensor("t", 0, 0, 0).build(), "data section");
    }

    @Test
    void validPlacementsAccepted() throws IOException {
        // empty tensors occupy no bytes and may share an offset; tensors need not be in offset order
        byte[] b = new Raw().header(3, 3, 0).tensor("a", 0, 32, 8).tensor("b", 0, 0, 8).tensor("e", 0, 0, 0, 3).pad(32).zeros(64).build();
        try (GgufFile f = parse(b)) {
            assertEquals(List.of("a", "b", "e"), f.tensors().stream().map(GgufTensor::name).toList());
            assertEquals(32, f.tensor("a").data().byteSize());
        }
    }

    @Test
    void badAlignment() {
        rejects(new Raw().header(3, 0, 1).str("general.alignment").u32(4).u32(48).build(), "general.alignment", "power of two");
        rejects(new Raw().header(3, 0, 1).str("general.alignment").u32(4).u32(0).build(), "general.alignment", "power of two");
        rejects(new Raw().header(3, 0, 1).str("general.alignment").u32(5).u32(32).build(), "general.alignment", "UINT32");
    }

    @Test
    void duplicatesAndBadNames() {
        rejects(new Raw().header(3, 0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).build(), "duplicate metadata key 'k'");
        rejects(new Raw().header(3, 2, 0).tensor("t", 0, 0, 8).tensor("t", 0, 32, 8).pad(32).zeros(64).build(), "duplicate tensor name 't'");
        rejects(new Raw().header(3, 0, 1).str("").u32(4).u32(1).build(), "empty");
        rejects(new Raw().header(3, 0, 1).u64(2).bytes(new byte[] {(byte) 0xC3, 0x28}).u32(4).u32(1).build(), "not valid UTF-8");
    }

    @Test
    void fileWithoutTensorsNeedsNoDataSection() throws IOException {
        try (GgufFile f = parse(new Raw().header(3, 0, 1).str("k").u32(8).str("v").build())) {
            assertEquals("v", f.metadata().getString("k"));
            assertTrue(f.tensors().isEmpty());
        }
    }

    @Test
    void openReportsProblemsOfRealFiles() throws IOException {
        Path p = dir.resolve("bad.gguf");
        Files.write(p, new Raw().header(3, 1L << 62, 0).build());
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        Files.write(p, new byte[0]);
        assertThrows(GgufFormatException.class, () -> GgufFile.open(p));
    }

    @Test
    void randomMutationsFailCleanly() throws IOException {
        byte[] valid = validFile();
        Random rnd = new Random(20240601);
        int accepted = 0;
        for (int iter = 0; iter < 2000; iter++) {
            byte[] b = valid.clone();
            int kind = rnd.nextInt(4);
            int muts = 1 + rnd.nextInt(4);
            for (int m = 0; m < muts && b.length > 0; m++) {
                int at = rnd.nextInt(b.length);
                switch (kind) {
                    case 0 -> b[at] = (byte) rnd.nextInt(256);
                    case 1 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
                    case 2 -> { // a large 64-bit value where a count or length may be
                        long v = switch (rnd.nextInt(3)) {
                            case 0 -> -1L;
                            case 1 -> 1L << rnd.nextInt(63);
                            default -> rnd.nextLong();
                        };
                        for (int k = 0; k < 8 && at + k < b.length; k++) b[at + k] = (byte) (v >>> (8 * k));
                    }
                    default -> b = Arrays.copyOf(b, rnd.nextInt(b.length + 64)); // truncate or extend with zeros
                }
            }
            try (GgufFile f = parse(b)) {
                accepted++;
                touchEverything(f);
            } catch (GgufFormatException expected) {
                assertNotNull(expected.getMessage());
            } catch (Throwable t) {
                fail("mutation " + iter + " threw " + t, t);
            }
        }
        assertTrue(accepted > 0 && accepted < 2000, "accepted " + accepted); // the loop really exercised both paths
    }

    /** Whatever a parse accepts must be fully usable: every value decodes, every tensor slice reads. */
    static void touchEverything(GgufFile f) throws GgufFormatException {
        for (String k : f.metadata().keys()) {
            Object v = f.metadata().get(k);
            if (v instanceof GgufArray a) {
                deepWalk(a);
                if (a.elementType() == GgufValueType.STRING) f.metadata().getStringArray(k);
            }
        }
        for (GgufTensor t : f.tensors()) {
            if (t.byteSize() > 0) {
                t.data().get(ValueLayout.JAVA_BYTE, 0);
                t.data().get(ValueLayout.JAVA_BYTE, t.byteSize() - 1);
            }
            t.elementCount();
        }
    }

    static void deepWalk(GgufArray a) {
        for (Object e : a) if (e instanceof GgufArray inner) deepWalk(inner);
    }
}
