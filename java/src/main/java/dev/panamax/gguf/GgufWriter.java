package dev.panamax.gguf;

import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Builds a GGUF v3 file laid out as llama.cpp's {@code gguf_write_to_file}: header, metadata, tensor infos,
 * zero padding to the alignment, then each tensor's data padded to the alignment, offsets in insertion order.
 * Values are checked when put ({@link IllegalArgumentException}), so {@link #write} fails only on I/O.
 * Tensor data is referenced, not copied: keep it alive until {@link #write} returns. Not thread-safe.
 */
public final class GgufWriter {

    private record Kv(GgufValueType type, Object value) {
    }

    private record TensorEntry(String name, int typeId, long[] shape, long byteSize, MemorySegment data, DataSource source) {
    }

    /** Receives a tensor's bytes in order, in pieces of any size. */
    @FunctionalInterface
    public interface DataSink {
        void write(MemorySegment bytes) throws IOException;
    }

    /**
     * Produces a tensor's bytes when {@link #write} reaches it (streaming: one tensor in memory at a time). It must write
     * exactly the tensor's byte size, else write fails.
     */
    @FunctionalInterface
    public interface DataSource {
        void writeTo(DataSink sink) throws IOException;
    }

    private final Map<String, Kv> kvs = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Sets the alignment and writes it as {@code general.alignment} (UINT32). */
    public GgufWriter alignment(int alignment) {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
            throw new IllegalArgumentException("alignment must be a power of two, got " + alignment);
        }
        kvs.put(GgufFile.KEY_ALIGNMENT, new Kv(GgufValueType.UINT32, (long) alignment));
        this.alignment = alignment;
        return this;
    }

    /**
     * Puts a value with its type inferred from the Java type: Byte INT8, Short INT16, Integer INT32, Long INT64,
     * Float FLOAT32, Double FLOAT64, Boolean BOOL, String STRING, {@link GgufArray} ARRAY, and primitive or
     * String Java arrays as arrays of the matching type. A key put again keeps its place and takes the new value.
     */
    public GgufWriter put(String key, Object value) {
        Objects.requireNonNull(value, "value");
        GgufValueType t = switch (value) {
            case Byte b -> GgufValueType.INT8;
            case Short v -> GgufValueType.INT16;
            case Integer v -> GgufValueType.INT32;
            case Long v -> GgufValueType.INT64;
            case Float v -> GgufValueType.FLOAT32;
            case Double v -> GgufValueType.FLOAT64;
            case Boolean v -> GgufValueType.BOOL;
            case String v -> GgufValueType.STRING;
            case GgufArray v -> GgufValueType.ARRAY;
            case byte[] v -> arrayOf(key, GgufValueType.INT8, v);
            case short[] v -> arrayOf(key, GgufValueType.INT16, v);
            case int[] v -> arrayOf(key, GgufValueType.INT32, v);
            case long[] v -> arrayOf(key, GgufValueType.INT64, v);
            case float[] v -> arrayOf(key, GgufValueType.FLOAT32, v);
            case double[] v -> arrayOf(key, GgufValueType.FLOAT64, v);
            case boolean[] v -> arrayOf(key, GgufValueType.BOOL, v);
            case String[] v -> arrayOf(key, GgufValueType.STRING, v);
            default -> throw new IllegalArgumentException("key '" + key + "': cannot infer a GGUF type for "
                    + value.getClass().getName() + "; use put(key, type, value) or putArray");
        };
        return t == GgufValueType.ARRAY && !(value instanceof GgufArray) ? this : put(key, t, value);
    }

    private GgufValueType arrayOf(String key, GgufValueType elementType, Object javaArray) {
        putArray(key, elementType, javaArray);
        return GgufValueType.ARRAY;
    }

    /**
     * Puts a value of an explicit type. Integer types take any {@link Number} in their range (UINT64 takes a long's
     * 64 bits as unsigned); FLOAT32/FLOAT64 any Number; ARRAY a {@link GgufArray}. This is how metadata is copied
     * exactly: {@code put(k, md.typeOf(k), md.get(k))}.
     */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        checkKey(key);
        Objects.requireNonNull(type, "type");
        Object v = normalize(type, value, "key '" + key + "'");
        if (key.equals(GgufFile.KEY_ALIGNMENT)) {
            if (type != GgufValueType.UINT32) throw new IllegalArgumentException("'" + key + "' must be UINT32, got " + type);
            long a = (Long) v;
            if (a == 0 || (a & (a - 1)) != 0 || a > Integer.MAX_VALUE) throw new IllegalArgumentException("alignment must be a power of two, got " + a);
            alignment = (int) a;
        }
        kvs.put(key, new Kv(type, v));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    /** value's 64 bits, read as unsigned. */
    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufValueType.UINT64, value);
    }

    /** An array of elementType from a Java array (primitive or not) or a List; see {@link GgufArray#of}. */
    public GgufWriter putArray(String key, GgufValueType elementType, Object elements) {
        checkKey(key);
        GgufArray a;
        try {
            a = GgufArray.of(elementType, elements);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("key '" + key + "': " + e.getMessage(), e);
        }
        return put(key, GgufValueType.ARRAY, a);
    }

    /** Adds a tensor of a type Panamax computes with; shape in ggml order (ne0 first). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, MemorySegment data) {
        return addTensor(name, Objects.requireNonNull(type, "type").id(), shape, data);
    }

    /** Adds a tensor of any ggml type id (e.g. copying a q5_K tensor); data must be exactly its byte size. */
    public GgufWriter addTensor(String name, int typeId, long[] shape, MemorySegment data) {
        Objects.requireNonNull(data, "data");
        return add(name, typeId, shape, data, null);
    }

    /**
     * Adds a tensor whose bytes {@code source} produces during {@link #write}, in insertion order (so a quantizer can
     * stream a model through one tensor's worth of memory). The size it must produce follows from shape and type.
     */
    public GgufWriter addTensor(String name, int typeId, long[] shape, DataSource source) {
        Objects.requireNonNull(source, "source");
        return add(name, typeId, shape, null, source);
    }

    private GgufWriter add(String name, int typeId, long[] shape, MemorySegment data, DataSource source) {
        Objects.requireNonNull(name, "name");
        long bytes;
        if (name.getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' is longer than " + GgufFile.MAX_NAME_BYTES + " bytes");
        }
        if (!tensorNames.add(name)) throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        try {
            if (!GgmlTypeTable.isKnown(typeId)) throw new IllegalArgumentException("tensor '" + name + "': unknown ggml type " + typeId);
            if (shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException("tensor '" + name + "': more than 4 dims");
            long n = 1;
            for (long d : shape) {
                if (d < 0) throw new IllegalArgumentException("tensor '" + name + "': negative dim in shape");
                n = Math.multiplyExact(n, d);
            }
            int block = GgmlTypeTable.blockSize(typeId);
            long ne0 = shape.length == 0 ? 1 : shape[0];
            if (ne0 % block != 0) {
                throw new IllegalArgumentException("tensor '" + name + "': rows of " + ne0 + " elements are not a multiple of "
                        + GgmlTypeTable.name(typeId) + "'s block size " + block);
            }
            bytes = Math.multiplyExact(n / block, (long) GgmlTypeTable.typeSize(typeId));
            if (data != null && data.byteSize() != bytes) {
                throw new IllegalArgumentException("tensor '" + name + "': data has " + data.byteSize() + " bytes, its shape and type need " + bytes);
            }
        } catch (IllegalArgumentException | ArithmeticException e) {
            tensorNames.remove(name);
            throw e instanceof ArithmeticException ? new IllegalArgumentException("tensor '" + name + "': size overflows", e) : e;
        }
        tensors.add(new TensorEntry(name, typeId, shape.clone(), bytes, data, source));
        return this;
    }

    /** Writes the file (replacing it), streaming: tensor data goes from its segment to the file in chunks. */
    public void write(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
             Out out = new Out(ch)) {
            out.i32(GgufFile.GGUF_MAGIC);
            out.i32(3);
            out.i64(tensors.size());
            out.i64(kvs.size());
            for (Map.Entry<String, Kv> e : kvs.entrySet()) {
                out.string(e.getKey());
                out.i32(e.getValue().type().id());
                writeValue(out, e.getValue().type(), e.getValue().value());
            }
            long offset = 0;
            for (TensorEntry t : tensors) {
                out.string(t.name());
                out.i32(t.shape().length);
                for (long d : t.shape()) out.i64(d);
                out.i32(t.typeId());
                out.i64(offset);
                offset += pad(t.byteSize());
            }
            out.padTo(alignment);
            for (TensorEntry t : tensors) {
                if (t.data() != null) {
                    out.segment(t.data());
                } else {
                    long start = out.written;
                    t.source().writeTo(seg -> {
                        if (out.written - start + seg.byteSize() > t.byteSize()) {
                            throw new IOException("tensor '" + t.name() + "': its source wrote more than its " + t.byteSize() + " bytes");
                        }
                        out.segment(seg);
                    });
                    if (out.written - start != t.byteSize()) {
                        throw new IOException("tensor '" + t.name() + "': its source wrote " + (out.written - start) + " of its "
                                + t.byteSize() + " bytes");
                    }
                }
                out.padTo(alignment);
            }
        }
    }

    private long pad(long n) {
        return (n + alignment - 1) & -(long) alignment;
    }

    private static void writeValue(Out out, GgufValueType t, Object v) throws IOException {
        switch (t) {
            case UINT8, INT8 -> out.i8(((Number) v).byteValue());
            case UINT16, INT16 -> out.i16(((Number) v).shortValue());
            case UINT32, INT32 -> out.i32(((Number) v).intValue());
            case UINT64, INT64 -> out.i64(((Number) v).longValue());
            case FLOAT32 -> out.f32((Float) v);
            case FLOAT64 -> out.f64((Double) v);
            case BOOL -> out.i8((byte) ((Boolean) v ? 1 : 0));
            case STRING -> out.string((String) v);
            case ARRAY -> {
                GgufArray a = (GgufArray) v;
                out.i32(a.elementType().id());
                out.i64(a.size());
                MemorySegment encoded = a.encodedElements();
                if (encoded != null) {
                    out.segment(encoded); // read from a file: already in GGUF encoding
                } else {
                    for (Object e : a) writeValue(out, a.elementType(), e);
                }
            }
        }
    }

    private static void checkKey(String key) {
        Objects.requireNonNull(key, "key");
        if (key.isEmpty()) throw new IllegalArgumentException("metadata key must not be empty");
    }

    /** The stored form of a value of type t (as GgufMetadata.get returns it), or an IllegalArgumentException. */
    static Object normalize(GgufValueType t, Object v, String where) {
        if (v == null) throw new IllegalArgumentException(where + ": null value");
        if (t.isInteger()) {
            if (!(v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long)) {
                throw new IllegalArgumentException(where + ": " + t + " needs an integer, got " + v.getClass().getSimpleName());
            }
            long x = ((Number) v).longValue();
            long lo, hi;
            switch (t) {
                case UINT8 -> { lo = 0; hi = 0xFF; }
                case INT8 -> { lo = Byte.MIN_VALUE; hi = Byte.MAX_VALUE; }
                case UINT16 -> { lo = 0; hi = 0xFFFF; }
                case INT16 -> { lo = Short.MIN_VALUE; hi = Short.MAX_VALUE; }
                case UINT32 -> { lo = 0; hi = 0xFFFF_FFFFL; }
                case INT32 -> { lo = Integer.MIN_VALUE; hi = Integer.MAX_VALUE; }
                default -> { lo = Long.MIN_VALUE; hi = Long.MAX_VALUE; } // UINT64: the bits as given
            }
            if (x < lo || x > hi) throw new IllegalArgumentException(where + ": " + x + " is out of range for " + t);
            return switch (t) {
                case INT8 -> (byte) x;
                case UINT8, INT16 -> (short) x;
                case UINT16, INT32 -> (int) x;
                default -> x;
            };
        }
        return switch (t) {
            case FLOAT32 -> {
                if (!(v instanceof Number n)) throw new IllegalArgumentException(where + ": FLOAT32 needs a number");
                yield n.floatValue();
            }
            case FLOAT64 -> {
                if (!(v instanceof Number n)) throw new IllegalArgumentException(where + ": FLOAT64 needs a number");
                yield n.doubleValue();
            }
            case BOOL -> {
                if (!(v instanceof Boolean b)) throw new IllegalArgumentException(where + ": BOOL needs a Boolean");
                yield b;
            }
            case STRING -> {
                if (!(v instanceof CharSequence cs)) throw new IllegalArgumentException(where + ": STRING needs a String");
                yield cs.toString();
            }
            case ARRAY -> {
                if (!(v instanceof GgufArray a)) throw new IllegalArgumentException(where + ": ARRAY needs a GgufArray");
                yield a;
            }
            default -> throw new AssertionError(t);
        };
    }

    /** Little-endian buffered output; large segments bypass the buffer. */
    private static final class Out implements AutoCloseable {
        private static final int CHUNK = 1 << 20;
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long written;

        Out(FileChannel ch) {
            this.ch = ch;
        }

        private void room(int n) throws IOException {
            if (buf.remaining() < n) flush();
        }

        void i8(byte v) throws IOException { room(1); buf.put(v); written += 1; }
        void i16(short v) throws IOException { room(2); buf.putShort(v); written += 2; }
        void i32(int v) throws IOException { room(4); buf.putInt(v); written += 4; }
        void i64(long v) throws IOException { room(8); buf.putLong(v); written += 8; }
        void f32(float v) throws IOException { room(4); buf.putFloat(v); written += 4; }
        void f64(double v) throws IOException { room(8); buf.putDouble(v); written += 8; }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            bytes(ByteBuffer.wrap(b));
        }

        void segment(MemorySegment seg) throws IOException {
            for (long off = 0; off < seg.byteSize(); off += CHUNK) {
                long n = Math.min(CHUNK, seg.byteSize() - off);
                bytes(seg.asSlice(off, n).asByteBuffer());
            }
        }

        private void bytes(ByteBuffer src) throws IOException {
            int n = src.remaining();
            if (n <= buf.remaining()) {
                buf.put(src);
            } else {
                flush();
                if (n <= buf.remaining()) buf.put(src);
                else while (src.hasRemaining()) ch.write(src);
            }
            written += n;
        }

        void padTo(int alignment) throws IOException {
            while (written % alignment != 0) i8((byte) 0);
        }

        private void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) ch.write(buf);
            buf.clear();
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
