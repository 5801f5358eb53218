package dev.panamax.gguf;

import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (v2 or v3, little-endian) mapped read-only into memory, zero copy. {@link #open} checks the whole
 * header, metadata and tensor directory against the file's bytes before returning, so that every size, offset
 * and type a caller gets is safe to use; any problem is a {@link GgufFormatException} naming it and its byte
 * offset. Closing unmaps the file: tensor segments and metadata arrays are unusable afterwards.
 * Thread-safe for reading; close once, when no reader remains.
 */
public final class GgufFile implements AutoCloseable {

    static final int GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
    static final int DEFAULT_ALIGNMENT = 32;
    static final String KEY_ALIGNMENT = "general.alignment";
    /** Tensor data the kernels read in place starts at a multiple of this (the mapping is page-aligned): blocks hold 4-byte fields. */
    static final int MIN_DATA_ALIGNMENT = 4;
    /** ggml's GGML_MAX_NAME: tensor names are stored in a char[64] with its NUL. */
    static final int MAX_NAME_BYTES = 63;
    static final int MAX_DIMS = 4;
    /** Nesting limit for arrays of arrays (llama.cpp allows none; the spec does not bound it). */
    static final int MAX_ARRAY_DEPTH = 8;
    /** llama.cpp's GGUF_MAX_STRING_LENGTH. */
    static final long MAX_STRING_BYTES = 1L << 30;

    private final Arena arena;
    private final MemorySegment segment;
    private final int version;
    private final GgufMetadata metadata;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> byName;
    private final long alignment;
    private final long dataOffset;

    private GgufFile(Arena arena, MemorySegment segment, Parser p) {
        this.arena = arena;
        this.segment = segment;
        this.version = p.version;
        this.metadata = p.metadata;
        this.tensors = Collections.unmodifiableList(p.tensors);
        this.alignment = p.alignment;
        this.dataOffset = p.dataOffset;
        // A power-of-two general.alignment of 1 or 2 (llama.cpp accepts them) can place tensor data at odd file
        // offsets, where the kernels would read blocks through misaligned 2- and 4-byte fields (fp16 scales, f32
        // values): such a tensor is copied once to aligned memory owned by this file. Bounded by the file's size.
        Arena copies = arena != null ? arena : Arena.ofAuto();
        for (int i = 0; i < p.tensors.size(); i++) {
            GgufTensor t = p.tensors.get(i);
            if (t.byteSize() == 0 || (p.dataOffset + t.offset()) % MIN_DATA_ALIGNMENT == 0) continue;
            MemorySegment aligned = copies.allocate(t.byteSize(), 64);
            aligned.copyFrom(t.data());
            p.tensors.set(i, new GgufTensor(t.name(), t.typeId(), t.type(), t.shape(), t.offset(), t.byteSize(), aligned));
        }
        Map<String, GgufTensor> m = new HashMap<>();
        for (GgufTensor t : p.tensors) m.put(t.name(), t);
        this.byName = m;
    }

    /** Maps and validates the file. */
    public static GgufFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new GgufFile(arena, seg, new Parser(seg, path.toString()).parse());
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Parses bytes already in memory (tests, embedded fixtures); close() then releases nothing. */
    static GgufFile parse(MemorySegment segment) throws GgufFormatException {
        return new GgufFile(null, segment, new Parser(segment, "<memory>").parse());
    }

    public int version() {
        return version;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** Tensors in file order. */
    public List<GgufTensor> tensors() {
        return tensors;
    }

    /** The tensor with this name, or null. */
    public GgufTensor tensor(String name) {
        return byName.get(name);
    }

    /** Alignment of the data section and of every tensor offset ({@code general.alignment}, default 32). */
    public long alignment() {
        return alignment;
    }

    /** File offset of the data section (tensor offsets are relative to it). */
    public long dataOffset() {
        return dataOffset;
    }

    /** The whole mapped file. */
    public MemorySegment segment() {
        return segment;
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }

    /** One pass over the bytes; every read is bounds-checked against the segment first. */
    private static final class Parser {
        private final MemorySegment s;
        private final long size;
        private final String source;
        private final CharsetDecoder strictUtf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        private long pos;

        int version;
        GgufMetadata metadata;
        final List<GgufTensor> tensors = new ArrayList<>();
        long alignment = DEFAULT_ALIGNMENT;
        long dataOffset;

        Parser(MemorySegment s, String source) {
            this.s = s;
            this.size = s.byteSize();
            this.source = source;
        }

        Parser parse() throws GgufFormatException {
            if (size < 4) throw error("file of " + size + " bytes is too short for the GGUF magic", 0);
            int magic = s.get(GgufArray.I32, 0);
            if (magic != GGUF_MAGIC) {
                throw error(String.format("bad magic 0x%08x (bytes %s), expected \"GGUF\"", Integer.reverseBytes(magic),
                        printable(s.asSlice(0, 4).toArray(ValueLayout.JAVA_BYTE))), 0);
            }
            pos = 4;
            long versionAt = pos;
            long v = u32("version");
            if (v == 1) throw error("GGUF version 1 is not supported (its counts are 32-bit); convert the file with a current llama.cpp", versionAt);
            if (v != 2 && v != 3) {
                String hint = (v & 0xFFFF) == 0 ? " (a big-endian file? only little-endian GGUF is supported)" : "";
                throw error("unsupported GGUF version " + v + ", expected 2 or 3" + hint, versionAt);
            }
            version = (int) v;

            long countsAt = pos;
            long nTensors = u64("tensor count");
            long nKv = u64("metadata count");
            // the smallest possible entries bound the counts, so a hostile count fails here instead of allocating
            long rest = size - pos;
            long minKv = 8 + 1 + 4 + 1;         // key length, a 1-byte key, value type, a 1-byte value
            long minTensor = 8 + 4 + 4 + 8;     // name length, n_dims, type, offset
            if (nTensors < 0 || nTensors > rest / minTensor) {
                throw error("tensor count " + Long.toUnsignedString(nTensors) + " cannot fit in the remaining " + rest + " bytes", countsAt);
            }
            if (nKv < 0 || nKv > (rest - nTensors * minTensor) / minKv) {
                throw error("metadata count " + Long.toUnsignedString(nKv) + " cannot fit in the remaining " + rest + " bytes", countsAt + 8);
            }

            LinkedHashMap<String, GgufMetadata.Entry> kv = new LinkedHashMap<>();
            for (long i = 0; i < nKv; i++) {
                long keyAt = pos;
                String key = strictString("metadata key #" + i);
                if (key.isEmpty()) throw error("metadata key #" + i + " is empty", keyAt);
                if (kv.containsKey(key)) throw error("duplicate metadata key '" + key + "'", keyAt);
                long typeAt = pos;
                int typeId = i32("type of '" + key + "'");
                GgufValueType type = GgufValueType.ofId(typeId);
                if (type == null) throw error("metadata key '" + key + "' has unknown value type " + Integer.toUnsignedString(typeId), typeAt);
                kv.put(key, new GgufMetadata.Entry(type, value(type, key, 0)));
            }
            metadata = new GgufMetadata(kv);
            GgufMetadata.Entry align = kv.get(KEY_ALIGNMENT);
            if (align != null) {
                // llama.cpp insists on UINT32
                if (align.type() != GgufValueType.UINT32) throw error("'" + KEY_ALIGNMENT + "' is " + align.type() + ", expected UINT32", -1);
                long a = (Long) align.value();
                if (a == 0 || (a & (a - 1)) != 0) throw error("'" + KEY_ALIGNMENT + "' = " + a + " is not a power of two", -1);
                alignment = a;
            }

            Map<String, Long> names = new HashMap<>();
            List<long[]> placement = new ArrayList<>(); // {offset, byteSize, index}
            for (long i = 0; i < nTensors; i++) {
                long infoAt = pos;
                String name = strictString("tensor name #" + i);
                int nameBytes = (int) (pos - infoAt - 8);
                if (nameBytes > MAX_NAME_BYTES) throw error("tensor '" + name + "': name of " + nameBytes + " bytes exceeds ggml's " + MAX_NAME_BYTES, infoAt);
                Long prev = names.putIfAbsent(name, i);
                if (prev != null) throw error("duplicate tensor name '" + name + "' (tensors #" + prev + " and #" + i + ")", infoAt);
                String where = "tensor '" + name + "'";
                long dimsAt = pos;
                long nDims = u32(where + " n_dims");
                if (nDims > MAX_DIMS) throw error(where + " has " + nDims + " dims, at most " + MAX_DIMS, dimsAt);
                long[] shape = new long[(int) nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    long dimAt = pos;
                    shape[d] = u64(where + " ne[" + d + "]");
                    if (shape[d] < 0) throw error(where + " ne[" + d + "] = " + Long.toUnsignedString(shape[d]) + " is negative as int64", dimAt);
                    try {
                        elements = Math.multiplyExact(elements, shape[d]);
                    } catch (ArithmeticException e) {
                        throw error(where + " shape " + java.util.Arrays.toString(shape) + " has more than 2^63 elements", dimAt);
                    }
                }
                long typeAt = pos;
                int typeId = i32(where + " type");
                if (!GgmlTypeTable.isKnown(typeId)) throw error(where + " has unknown ggml type " + Integer.toUnsignedString(typeId), typeAt);
                int block = GgmlTypeTable.blockSize(typeId);
                long ne0 = nDims == 0 ? 1 : shape[0];
                if (ne0 % block != 0) {
                    throw error(where + " of type " + GgmlTypeTable.name(typeId) + " has rows of " + ne0
                            + " elements, not a multiple of the block size " + block, typeAt);
                }
                long byteSize;
                try {
                    byteSize = Math.multiplyExact(elements / block, (long) GgmlTypeTable.typeSize(typeId));
                } catch (ArithmeticException e) {
                    throw error(where + " size in bytes overflows 64 bits", typeAt);
                }
                long offAt = pos;
                long offset = u64(where + " offset");
                if (offset < 0 || offset % alignment != 0) {
                    throw error(where + " offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment, offAt);
                }
                tensors.add(new GgufTensor(name, typeId, GgmlType.ofId(typeId), shape, offset, byteSize, null));
                placement.add(new long[] {offset, byteSize, i});
            }

            // llama.cpp pads to the data section only when there are tensors
            dataOffset = nTensors == 0 ? pos : alignUp(pos, alignment);
            if (dataOffset > size) throw error("data section at " + dataOffset + " starts past the end of the file (" + size + " bytes)", pos);
            long dataBytes = size - dataOffset;
            for (int i = 0; i < tensors.size(); i++) {
                GgufTensor t = tensors.get(i);
                if (t.offset() > dataBytes || t.byteSize() > dataBytes - t.offset()) {
                    throw error("tensor '" + t.name() + "' data [" + t.offset() + ", +" + t.byteSize() + ") of the data section at "
                            + dataOffset + " extends past the end of the file (" + size + " bytes)", dataOffset + t.offset());
                }
                tensors.set(i, new GgufTensor(t.name(), t.typeId(), t.type(), t.shape(), t.offset(), t.byteSize(),
                        s.asSlice(dataOffset + t.offset(), t.byteSize())));
            }
            placement.sort(Comparator.comparingLong(p -> p[0]));
            long maxEnd = 0;
            int maxEndIndex = -1;
            for (long[] p : placement) {
                if (p[1] == 0) continue; // an empty tensor occupies no bytes
                if (maxEndIndex >= 0 && p[0] < maxEnd) {
                    throw error("tensor '" + tensors.get((int) p[2]).name() + "' at offset " + p[0] + " overlaps tensor '"
                            + tensors.get(maxEndIndex).name() + "' (ends at " + maxEnd + ")", dataOffset + p[0]);
                }
                if (p[0] + p[1] > maxEnd) {
                    maxEnd = p[0] + p[1];
                    maxEndIndex = (int) p[2];
                }
            }
            return this;
        }

        private static long alignUp(long x, long a) {
            return (x + a - 1) & -a;
        }

        /** A value of type t; arrays are validated now and decoded later. */
        private Object value(GgufValueType t, String key, int depth) throws GgufFormatException {
            long at = pos;
            switch (t) {
                case STRING -> {
                    long len = stringLength(key);
                    String v = GgufArray.decodeLenient(s, pos, (int) len);
                    pos += len;
                    return v;
                }
                case ARRAY -> {
                    if (depth >= MAX_ARRAY_DEPTH) throw error("metadata key '" + key + "': arrays nested deeper than " + MAX_ARRAY_DEPTH, at);
                    int etId = i32("array element type of '" + key + "'");
                    GgufValueType et = GgufValueType.ofId(etId);
                    if (et == null) throw error("metadata key '" + key + "': array of unknown value type " + Integer.toUnsignedString(etId), at);
                    long countAt = pos;
                    long n = u64("array count of '" + key + "'");
                    long rest = size - pos;
                    if (n < 0 || n > rest / et.minEncodedSize()) {
                        throw error("metadata key '" + key + "': array of " + Long.toUnsignedString(n) + " " + et
                                + " cannot fit in the remaining " + rest + " bytes", countAt);
                    }
                    if (n > Integer.MAX_VALUE - 8) throw error("metadata key '" + key + "': array of " + n + " elements is too large", countAt);
                    long start = pos;
                    if (et.size() > 0) {
                        pos += n * et.size(); // fits: checked against the remaining bytes
                    } else {
                        for (long i = 0; i < n; i++) {
                            if (et == GgufValueType.STRING) {
                                long len = stringLength(key);
                                pos += len;
                            } else {
                                value(et, key, depth + 1);
                            }
                        }
                    }
                    return new GgufArray(et, (int) n, s, start, pos);
                }
                default -> {
                    need(t.size(), "value of '" + key + "'");
                    Object v = GgufArray.readFixed(s, pos, t);
                    pos += t.size();
                    return v;
                }
            }
        }

        /** Reads a string length and checks the string's bytes are in the file; pos ends at the bytes. */
        private long stringLength(String what) throws GgufFormatException {
            long at = pos;
            long len = u64("string length in " + what);
            long rest = size - pos;
            if (len < 0 || len > rest) {
                throw error(what + ": string length " + Long.toUnsignedString(len) + " exceeds the remaining " + rest + " bytes", at);
            }
            if (len > MAX_STRING_BYTES) throw error(what + ": string length " + len + " exceeds " + MAX_STRING_BYTES, at);
            return len;
        }

        /** Keys and tensor names: identifiers, so malformed UTF-8 is an error rather than replaced. */
        private String strictString(String what) throws GgufFormatException {
            long at = pos;
            long len = stringLength(what);
            ByteBuffer bytes = ByteBuffer.wrap(s.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE));
            try {
                String v = strictUtf8.reset().decode(bytes).toString();
                pos += len;
                return v;
            } catch (CharacterCodingException e) {
                throw error(what + " is not valid UTF-8", at);
            }
        }

        private void need(long n, String what) throws GgufFormatException {
            if (size - pos < n) throw error("file ends inside " + what + " (needs " + n + " bytes, " + (size - pos) + " left)", pos);
        }

        private long u32(String what) throws GgufFormatException {
            return i32(what) & 0xFFFF_FFFFL;
        }

        private int i32(String what) throws GgufFormatException {
            need(4, what);
            int v = s.get(GgufArray.I32, pos);
            pos += 4;
            return v;
        }

        /** A u64 as its raw bits: callers treat negative as "too large". */
        private long u64(String what) throws GgufFormatException {
            need(8, what);
            long v = s.get(GgufArray.I64, pos);
            pos += 8;
            return v;
        }

        private GgufFormatException error(String message, long offset) {
            return new GgufFormatException(source + ": " + message + (offset >= 0 ? " (at byte offset " + offset + ")" : ""));
        }

        private static String printable(byte[] b) {
            StringBuilder sb = new StringBuilder();
            for (byte x : b) sb.append(x >= 0x20 && x < 0x7f ? String.valueOf((char) x) : String.format("\\x%02x", x & 0xFF));
            return sb.toString();
        }
    }
}
