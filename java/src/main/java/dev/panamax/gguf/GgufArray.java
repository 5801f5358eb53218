package dev.panamax.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Array;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.RandomAccess;

/**
 * An immutable GGUF metadata array: its element type and elements, boxed as {@link GgufMetadata#get} documents.
 * Arrays read from a file stay in the mapped file and decode an element when asked (a 150k-entry token list
 * costs nothing until used), so they must not be used after their {@link GgufFile} is closed
 * ({@link IllegalStateException}). {@link #of} builds an in-memory array for {@link GgufWriter}.
 */
public final class GgufArray extends AbstractList<Object> implements RandomAccess {

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GgufValueType elementType;
    private final int size;
    // file-backed: elements encoded in segment[start, end), already validated by the parser
    private final MemorySegment segment;
    private final long start;
    private final long end;
    private volatile long[] elementOffsets; // STRING/ARRAY elements only, built on first access
    // in-memory: normalized values
    private final List<Object> values;

    GgufArray(GgufValueType elementType, int size, MemorySegment segment, long start, long end) {
        this.elementType = elementType;
        this.size = size;
        this.segment = segment;
        this.start = start;
        this.end = end;
        this.values = null;
    }

    private GgufArray(GgufValueType elementType, List<Object> values) {
        this.elementType = elementType;
        this.size = values.size();
        this.segment = null;
        this.start = 0;
        this.end = 0;
        this.values = values;
    }

    /**
     * An in-memory array of {@code elementType}. {@code elements} is a Java array (primitive or not) or a
     * {@link List}; each element must fit the type (an {@link IllegalArgumentException} says which does not).
     * Elements of an ARRAY-typed array are themselves {@link GgufArray}s.
     */
    public static GgufArray of(GgufValueType elementType, Object elements) {
        Objects.requireNonNull(elementType, "elementType");
        Objects.requireNonNull(elements, "elements");
        List<Object> out;
        if (elements instanceof List<?> list) {
            out = new ArrayList<>(list.size());
            for (Object e : list) out.add(GgufWriter.normalize(elementType, e, "array element"));
        } else if (elements.getClass().isArray()) {
            int n = Array.getLength(elements);
            out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) out.add(GgufWriter.normalize(elementType, Array.get(elements, i), "array element"));
        } else {
            throw new IllegalArgumentException("array elements must be a Java array or a List, got " + elements.getClass().getName());
        }
        return new GgufArray(elementType, Collections.unmodifiableList(out));
    }

    public GgufValueType elementType() {
        return elementType;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Object get(int index) {
        Objects.checkIndex(index, size);
        if (values != null) return values.get(index);
        if (elementType.size() > 0) return readFixed(segment, start + (long) index * elementType.size(), elementType);
        long off = offsets()[index];
        if (elementType == GgufValueType.STRING) return readString(segment, off);
        return readArray(segment, off);
    }

    /** Bytes the array's elements take in a file (without the element type and count). */
    long encodedElementBytes() {
        return end - start;
    }

    /** The encoded elements when file-backed (copied verbatim by the writer), else null. */
    MemorySegment encodedElements() {
        return segment == null ? null : segment.asSlice(start, end - start);
    }

    String[] toStringArray() {
        String[] out = new String[size];
        if (values != null) {
            for (int i = 0; i < size; i++) out[i] = (String) values.get(i);
            return out;
        }
        // one sequential pass: no need for the offset index
        long off = start;
        for (int i = 0; i < size; i++) {
            long len = segment.get(I64, off);
            out[i] = decodeLenient(segment, off + 8, (int) len);
            off += 8 + len;
        }
        return out;
    }

    float[] toFloatArrayFrom32() {
        float[] out = new float[size];
        if (values != null) {
            for (int i = 0; i < size; i++) out[i] = (Float) values.get(i);
        } else {
            MemorySegment.copy(segment, F32, start, out, 0, size);
        }
        return out;
    }

    /** Element i of an integer array as a long (UINT64 as its raw bits). */
    long rawLong(int i) {
        Object v = get(i);
        return ((Number) v).longValue();
    }

    private long[] offsets() {
        long[] offs = elementOffsets;
        if (offs == null) {
            offs = new long[size];
            long off = start;
            for (int i = 0; i < size; i++) {
                offs[i] = off;
                off = skip(segment, off, elementType);
            }
            elementOffsets = offs;
        }
        return offs;
    }

    // --- decoding of validated bytes ---

    static Object readFixed(MemorySegment s, long off, GgufValueType t) {
        return switch (t) {
            case UINT8 -> (short) (s.get(ValueLayout.JAVA_BYTE, off) & 0xFF);
            case INT8 -> s.get(ValueLayout.JAVA_BYTE, off);
            case UINT16 -> s.get(I16, off) & 0xFFFF;
            case INT16 -> s.get(I16, off);
            case UINT32 -> s.get(I32, off) & 0xFFFF_FFFFL;
            case INT32 -> s.get(I32, off);
            case FLOAT32 -> s.get(F32, off);
            case BOOL -> s.get(ValueLayout.JAVA_BYTE, off) != 0;
            case UINT64, INT64 -> s.get(I64, off);
            case FLOAT64 -> s.get(F64, off);
            case STRING, ARRAY -> throw new IllegalArgumentException(t + " has no fixed size");
        };
    }

    static String readString(MemorySegment s, long off) {
        return decodeLenient(s, off + 8, (int) s.get(I64, off));
    }

    static String decodeLenient(MemorySegment s, long off, int len) {
        // values are UTF-8 by the spec, but some vocabularies hold stray bytes: decode with replacement
        return new String(s.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    private static GgufArray readArray(MemorySegment s, long off) {
        GgufValueType et = GgufValueType.ofId(s.get(I32, off));
        int n = (int) s.get(I64, off + 4);
        long elems = off + 12;
        long end = elems;
        if (et.size() > 0) {
            end += (long) n * et.size();
        } else {
            for (int i = 0; i < n; i++) end = skip(s, end, et);
        }
        return new GgufArray(et, n, s, elems, end);
    }

    /** Offset after the value of type t at off. */
    private static long skip(MemorySegment s, long off, GgufValueType t) {
        if (t.size() > 0) return off + t.size();
        if (t == GgufValueType.STRING) return off + 8 + s.get(I64, off);
        GgufArray a = readArray(s, off);
        return a.end;
    }
}
