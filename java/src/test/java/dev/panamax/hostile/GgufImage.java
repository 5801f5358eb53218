package dev.panamax.hostile;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A GGUF file taken apart into editable raw pieces, so that a hostile variant can say anything a file can say: every
 * count, length, type id and offset is a field that may hold a lie (a count of 2^64-1, a string length past the end,
 * a type id of 2^31). {@link #parse} reads a valid file (it trusts its input); {@link #bytes} writes the pieces back
 * in order, with the stated counts instead of the real ones where a variant set them. Values are kept as their raw
 * encoded bytes (the type id is separate), so a variant can pair any type id with any bytes.
 */
final class GgufImage {

    /** One metadata entry: key bytes (with an optional lying length), type id, raw value bytes. */
    static final class Kv {
        byte[] key;
        Long keyLength; // null: the real length
        int type;
        byte[] value;

        Kv(byte[] key, int type, byte[] value) {
            this.key = key;
            this.type = type;
            this.value = value;
        }

        String key() {
            return new String(key, StandardCharsets.UTF_8);
        }

        Kv copy() {
            Kv k = new Kv(key.clone(), type, value.clone());
            k.keyLength = keyLength;
            return k;
        }
    }

    /** One tensor info: name bytes (optional lying length), n_dims (may differ from dims.length), dims, type, offset. */
    static final class Tensor {
        byte[] name;
        Long nameLength;
        long nDims;
        long[] dims;
        int type;
        long offset;

        String name() {
            return new String(name, StandardCharsets.UTF_8);
        }

        Tensor copy() {
            Tensor t = new Tensor();
            t.name = name.clone();
            t.nameLength = nameLength;
            t.nDims = nDims;
            t.dims = dims.clone();
            t.type = type;
            t.offset = offset;
            return t;
        }
    }

    long version = 3;
    Long nTensors; // null: tensors.size()
    Long nKv;      // null: kvs.size()
    final List<Kv> kvs = new ArrayList<>();
    final List<Tensor> tensors = new ArrayList<>();
    /** The padding the writer puts before the data section (whatever general.alignment says). */
    int padTo = 32;
    byte[] data = new byte[0];

    GgufImage copy() {
        GgufImage g = new GgufImage();
        g.version = version;
        g.nTensors = nTensors;
        g.nKv = nKv;
        for (Kv k : kvs) g.kvs.add(k.copy());
        for (Tensor t : tensors) g.tensors.add(t.copy());
        g.padTo = padTo;
        g.data = data; // shared: variants that change data replace the array
        return g;
    }

    Kv kv(String key) {
        for (Kv k : kvs) if (k.key().equals(key)) return k;
        throw new IllegalArgumentException("no key " + key);
    }

    boolean has(String key) {
        return kvs.stream().anyMatch(k -> k.key().equals(key));
    }

    Tensor tensor(String name) {
        for (Tensor t : tensors) if (t.name().equals(name)) return t;
        throw new IllegalArgumentException("no tensor " + name);
    }

    /** Sets (or adds) a key with a type id and raw value. */
    GgufImage put(String key, int type, byte[] value) {
        for (Kv k : kvs) {
            if (k.key().equals(key)) {
                k.type = type;
                k.value = value;
                return this;
            }
        }
        kvs.add(new Kv(key.getBytes(StandardCharsets.UTF_8), type, value));
        return this;
    }

    GgufImage remove(String key) {
        kvs.removeIf(k -> k.key().equals(key));
        return this;
    }

    // ---- value encoders (raw bytes of a value of the given GGUF type) ----

    static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8,
            ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;

    static byte[] u32(long v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array();
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static byte[] f32(float v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v).array();
    }

    static byte[] f64(double v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(v).array();
    }

    static byte[] str(String s) {
        return str(s.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] str(byte[] b) {
        return concat(u64(b.length), b);
    }

    /** An array value: element type, count (as stated), then the raw elements. */
    static byte[] array(int elementType, long count, byte[] elements) {
        return concat(u32(elementType), u64(count), elements);
    }

    static byte[] strings(List<String> items) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (String s : items) o.writeBytes(str(s));
        return array(STRING, items.size(), o.toByteArray());
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    // ---- reading a valid file ----

    static GgufImage parse(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt() != 0x46554747) throw new IllegalArgumentException("not GGUF");
        GgufImage g = new GgufImage();
        g.version = b.getInt() & 0xFFFFFFFFL;
        long nt = b.getLong();
        long nkv = b.getLong();
        for (long i = 0; i < nkv; i++) {
            long kl = b.getLong();
            if (kl < 0 || kl > b.remaining()) throw new IllegalArgumentException("key #" + i + " length " + kl + " at " + b.position() + " after " + g.kvs.stream().map(Kv::key).toList());
            byte[] key = new byte[(int) kl];
            b.get(key);
            int type = b.getInt();
            int start = b.position();
            skipValue(b, type);
            g.kvs.add(new Kv(key, type, Arrays.copyOfRange(file, start, b.position())));
        }
        for (long i = 0; i < nt; i++) {
            Tensor t = new Tensor();
            t.name = new byte[(int) b.getLong()];
            b.get(t.name);
            t.nDims = b.getInt() & 0xFFFFFFFFL;
            t.dims = new long[(int) t.nDims];
            for (int d = 0; d < t.nDims; d++) t.dims[d] = b.getLong();
            t.type = b.getInt();
            t.offset = b.getLong();
            g.tensors.add(t);
        }
        for (Kv k : g.kvs) {
            if (k.key().equals("general.alignment")) g.padTo = ByteBuffer.wrap(k.value).order(ByteOrder.LITTLE_ENDIAN).getInt();
        }
        int dataStart = nt == 0 ? b.position() : (int) ((b.position() + g.padTo - 1) / g.padTo * g.padTo);
        g.data = Arrays.copyOfRange(file, dataStart, file.length);
        return g;
    }

    private static void skipValue(ByteBuffer b, int type) {
        switch (type) {
            case UINT8, INT8, BOOL -> b.position(b.position() + 1);
            case UINT16, INT16 -> b.position(b.position() + 2);
            case UINT32, INT32, FLOAT32 -> b.position(b.position() + 4);
            case UINT64, INT64, FLOAT64 -> b.position(b.position() + 8);
            case STRING -> {
                int len = (int) b.getLong();
                b.position(b.position() + len);
            }
            case ARRAY -> {
                int et = b.getInt();
                long n = b.getLong();
                for (long i = 0; i < n; i++) skipValue(b, et);
            }
            default -> throw new IllegalArgumentException("type " + type);
        }
    }

    /** The raw element bytes of an array value and its element type / count, for variants that rebuild arrays. */
    static int arrayElementType(byte[] value) {
        return ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
    }

    static long arrayCount(byte[] value) {
        return ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN).getLong(4);
    }

    /** The strings of a STRING array value. */
    static List<String> stringItems(byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        b.getInt();
        long n = b.getLong();
        List<String> out = new ArrayList<>();
        for (long i = 0; i < n; i++) {
            byte[] s = new byte[(int) b.getLong()];
            b.get(s);
            out.add(new String(s, StandardCharsets.UTF_8));
        }
        return out;
    }

    // ---- writing ----

    /** Where the data section starts when written (for variants that place bytes relative to it). */
    int headerEnd() {
        return bytes(true).length;
    }

    byte[] bytes() {
        return bytes(false);
    }

    private byte[] bytes(boolean headerOnly) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        o.writeBytes(u32(version));
        o.writeBytes(u64(nTensors != null ? nTensors : tensors.size()));
        o.writeBytes(u64(nKv != null ? nKv : kvs.size()));
        for (Kv k : kvs) {
            o.writeBytes(u64(k.keyLength != null ? k.keyLength : k.key.length));
            o.writeBytes(k.key);
            o.writeBytes(u32(k.type));
            o.writeBytes(k.value);
        }
        for (Tensor t : tensors) {
            o.writeBytes(u64(t.nameLength != null ? t.nameLength : t.name.length));
            o.writeBytes(t.name);
            o.writeBytes(u32(t.nDims));
            for (long d : t.dims) o.writeBytes(u64(d));
            o.writeBytes(u32(t.type));
            o.writeBytes(u64(t.offset));
        }
        if (!tensors.isEmpty() && padTo > 0) o.writeBytes(new byte[(padTo - o.size() % padTo) % padTo]);
        if (headerOnly) return o.toByteArray();
        o.writeBytes(data);
        return o.toByteArray();
    }
}
