package dev.panamax.gguf;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GgufWriter -> GgufFile: every value type, nested arrays, several tensor types, and the typed getters. */
class GgufRoundTripTest {

    @TempDir
    Path dir;

    static MemorySegment bytes(long n, int seed) {
        byte[] b = new byte[(int) n];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 31 + seed);
        return MemorySegment.ofArray(b);
    }

    @Test
    void everyValueTypeRoundTrips() throws IOException {
        GgufArray inner1 = GgufArray.of(GgufValueType.INT32, new int[] {1, -2, 3});
        GgufArray inner2 = GgufArray.of(GgufValueType.STRING, List.of("", "ü"));
        GgufArray nested = GgufArray.of(GgufValueType.ARRAY, List.of(inner1, inner2,
                GgufArray.of(GgufValueType.ARRAY, List.of(GgufArray.of(GgufValueType.BOOL, new boolean[] {true})))));
        GgufWriter w = new GgufWriter()
                .put("u8", GgufValueType.UINT8, 255)
                .put("i8", (byte) -128)
                .put("u16", GgufValueType.UINT16, 65535)
                .put("i16", (short) -32768)
                .putUInt32("u32", 0xFFFF_FFFFL)
                .putInt32("i32", Integer.MIN_VALUE)
                .putFloat32("f32", 1.5f)
                .putBool("bool", true)
                .putString("str", "héllo 世界 🦙")
                .putString("empty", "")
                .putUInt64("u64", -1L)
                .put("i64", Long.MIN_VALUE)
                .put("f64", Math.PI)
                .put("floats", new float[] {0f, -1f, Float.MAX_VALUE})
                .put("strings", new String[] {"a", "", "ß∂ƒ"})
                .putArray("u32s", GgufValueType.UINT32, new long[] {0, 4_000_000_000L})
                .putArray("u8s", GgufValueType.UINT8, List.of(0, 200))
                .putArray("empty_arr", GgufValueType.FLOAT64, new double[0])
                .put("nested", nested)
                .put("general.architecture", "llama");
        Path p = dir.resolve("all.gguf");
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            GgufMetadata m = f.metadata();
            assertEquals(3, f.version());
            assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "empty", "u64", "i64", "f64",
                    "floats", "strings", "u32s", "u8s", "empty_arr", "nested", "general.architecture"), List.copyOf(m.keys()));
            assertEquals(GgufValueType.UINT8, m.typeOf("u8"));
            assertEquals((short) 255, m.get("u8"));
            assertEquals(255, m.getInt("u8"));
            assertEquals(-128, m.getInt("i8"));
            assertEquals(65535, m.getInt("u16"));
            assertEquals(-32768, m.getInt("i16"));
            assertEquals(0xFFFF_FFFFL, m.getLong("u32"));
            assertEquals(Integer.MIN_VALUE, m.getInt("i32"));
            assertEquals(1.5f, m.getFloat("f32"));
            assertTrue(m.getBoolean("bool"));
            assertEquals("héllo 世界 🦙", m.getString("str"));
            assertEquals("", m.getString("empty"));
            assertEquals(-1L, m.get("u64"));
            assertEquals(Long.MIN_VALUE, m.getLong("i64"));
            assertEquals((float) Math.PI, m.getFloat("f64"));
            assertEquals(Math.PI, m.get("f64"));
            assertArrayEquals(new float[] {0f, -1f, Float.MAX_VALUE}, m.getFloatArray("floats"));
            assertArrayEquals(new String[] {"a", "", "ß∂ƒ"}, m.getStringArray("strings"));
            assertEquals(List.of("a", "", "ß∂ƒ"), m.get("strings"));
            assertEquals(List.of(0L, 4_000_000_000L), m.get("u32s"));
            assertArrayEquals(new int[] {0, 200}, m.getIntArray("u8s"));
            assertEquals(0, m.getArray("empty_arr").size());
            assertEquals(GgufValueType.FLOAT64, m.getArray("empty_arr").elementType());
            GgufArray n = m.getArray("nested");
            assertEquals(GgufValueType.ARRAY, n.elementType());
            assertEquals(nested, n); // element-wise, through the lazy file-backed view
            assertEquals(List.of(1, -2, 3), n.get(0));
            assertEquals(GgufValueType.STRING, ((GgufArray) n.get(1)).elementType());
            assertEquals(List.of("", "ü"), n.get(1));
            assertEquals(List.of(List.of(true)), n.get(2));

            // typed getter failures name the key
            assertThrowsNaming("missing", () -> m.getString("missing"));
            assertThrowsNaming("str", () -> m.getInt("str"));
            assertThrowsNaming("u64", () -> m.getLong("u64"));        // 2^64-1 does not fit a long
            assertThrowsNaming("u32", () -> m.getInt("u32"));         // 2^32-1 does not fit an int
            assertThrowsNaming("u32s", () -> m.getIntArray("u32s"));  // 4e9 does not fit an int
            assertThrowsNaming("floats", () -> m.getStringArray("floats"));
            assertThrowsNaming("strings", () -> m.getIntArray("strings"));
            assertThrowsNaming("bool", () -> m.getFloat("bool"));
            assertThrowsNaming("str", () -> m.getBoolean("str"));
            assertThrowsNaming("str", () -> m.getInt("str", 7)); // present with the wrong type: not the default
            assertEquals(7, m.getInt("absent", 7));
            assertEquals(2.5f, m.getFloat("absent", 2.5f));
            assertEquals("d", m.getString("absent", "d"));
            assertTrue(m.getBoolean("absent", true));
            assertFalse(m.has("absent"));
            assertNull(m.typeOf("absent"));
        }
    }

    interface Call {
        void run() throws Exception;
    }

    static void assertThrowsNaming(String key, Call c) {
        GgufFormatException e = assertThrows(GgufFormatException.class, c::run);
        assertTrue(e.getMessage().contains("'" + key + "'"), e.getMessage());
    }

    @Test
    void tensorsOfSeveralTypesRoundTripAligned() throws IOException {
        record T(String name, int type, long[] shape, long bytes) {
        }
        List<T> specs = List.of(
                new T("f32", GgmlType.F32.id(), new long[] {7, 3}, 7 * 3 * 4),
                new T("f16", GgmlType.F16.id(), new long[] {5}, 10),
                new T("q8_0", GgmlType.Q8_0.id(), new long[] {64, 2}, 2 * 2 * 34),
                new T("q4_K", GgmlType.Q4_K.id(), new long[] {256, 1, 2}, 2 * 144),
                new T("iq3_xxs", 18, new long[] {256, 3}, 3 * 98),      // a type Panamax has no kernels for
                new T("iq2_xs", 17, new long[] {512, 1, 1, 2}, 4 * 74),
                new T("empty", GgmlType.F32.id(), new long[] {0, 4}, 0), // llama.cpp allows ne = 0
                new T("scalar", GgmlType.F32.id(), new long[] {}, 4));    // n_dims = 0: one element
        for (int alignment : new int[] {32, 64, 1}) {
            GgufWriter w = new GgufWriter().putString("general.architecture", "test");
            if (alignment != 32) w.alignment(alignment);
            int seed = 0;
            for (T t : specs) w.addTensor(t.name(), t.type(), t.shape(), bytes(t.bytes(), seed++));
            Path p = dir.resolve("t" + alignment + ".gguf");
            w.write(p);
            try (GgufFile f = GgufFile.open(p)) {
                assertEquals(alignment, f.alignment());
                assertEquals(0, f.dataOffset() % alignment);
                assertEquals(specs.size(), f.tensors().size());
                seed = 0;
                for (int i = 0; i < specs.size(); i++) {
                    T s = specs.get(i);
                    GgufTensor t = f.tensors().get(i);
                    assertSame(t, f.tensor(s.name()));
                    assertEquals(s.name(), t.name());
                    assertEquals(s.type(), t.typeId());
                    assertEquals(GgmlType.ofId(s.type()), t.type());
                    assertArrayEquals(s.shape(), t.shape());
                    assertEquals(s.bytes(), t.byteSize());
                    assertEquals(0, t.offset() % alignment);
                    assertArrayEquals(bytes(s.bytes(), seed++).toArray(ValueLayout.JAVA_BYTE), t.data().toArray(ValueLayout.JAVA_BYTE), s.name());
                }
                assertNull(f.tensor("nope"));
                assertNull(f.tensor("iq3_xxs").type());
                assertEquals("iq3_xxs", f.tensor("iq3_xxs").typeName());
                assertEquals(0, f.tensor("empty").elementCount());
                assertEquals(1, f.tensor("scalar").elementCount());
                assertEquals(21, f.tensor("f32").elementCount());
            }
        }
    }

    @Test
    void copyingThroughReaderAndWriterIsByteIdentical() throws IOException {
        Path a = dir.resolve("a.gguf");
        new GgufWriter().alignment(64).putString("x", "y").putArray("s", GgufValueType.STRING, List.of("p", "q"))
                .put("n", GgufArray.of(GgufValueType.ARRAY, List.of(GgufArray.of(GgufValueType.UINT16, new int[] {9}))))
                .addTensor("w", GgmlType.Q8_0, new long[] {32, 3}, bytes(3 * 34, 1))
                .addTensor("b", GgmlType.F32, new long[] {3}, bytes(12, 2))
                .write(a);
        Path b = dir.resolve("b.gguf");
        try (GgufFile f = GgufFile.open(a)) {
            copy(f).write(b);
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
    }

    /** The copy idiom other code uses: exact value types, tensors referenced from the mapped file. */
    static GgufWriter copy(GgufFile f) {
        GgufWriter w = new GgufWriter();
        for (String k : f.metadata().keys()) w.put(k, f.metadata().typeOf(k), f.metadata().get(k));
        for (GgufTensor t : f.tensors()) w.addTensor(t.name(), t.typeId(), t.shape(), t.data());
        return w;
    }

    @Test
    void writerRejectsBadInput() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.alignment(48));
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValueType.INT32, 32));
        assertThrows(IllegalArgumentException.class, () -> w.put("", "x"));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT8, 256));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT32, -1));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.INT32, "x"));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", List.of(1)));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.INT8, new int[] {300}));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocate(34);
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.Q8_0, new long[] {31}, d));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.Q8_0, new long[] {64}, d));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", 4, new long[] {32}, d));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.Q8_0, new long[] {32, 1, 1, 1, 1}, d));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), GgmlType.Q8_0, new long[] {32}, d));
            w.addTensor("t", GgmlType.Q8_0, new long[] {32}, d);
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.Q8_0, new long[] {32}, d));
        }
    }
}
