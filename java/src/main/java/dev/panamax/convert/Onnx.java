package dev.panamax.convert;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The part of an ONNX file ({@code onnx.proto}'s {@code ModelProto}) a weight converter needs, read straight from the
 * protobuf wire format: the graph's nodes (operator, inputs, outputs, integer and tensor attributes) and its
 * initializers (name, dims, element type, data from {@code raw_data} or the typed repeated fields). Tensor data stays
 * in the mapped file where it can; every length is checked against its enclosing message.
 */
public final class Onnx {
    /** ONNX element types ({@code TensorProto.DataType}) the converter reads. */
    public static final int FLOAT = 1, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11;

    /** A graph node. */
    public record Node(String opType, String name, List<String> inputs, List<String> outputs, Map<String, Tensor> tensorAttributes,
            Map<String, Long> intAttributes) {}

    /** An initializer or a tensor attribute: its little-endian data, element type and dims. */
    public record Tensor(String name, long[] dims, int dataType, MemorySegment data) {
        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        /** The values as floats (FLOAT, FLOAT16 or DOUBLE). */
        public float[] floats() {
            long n = elements();
            if (n > Integer.MAX_VALUE) throw new OnnxFormatException(name + ": too large for one array");
            float[] out = new float[(int) n];
            int size = switch (dataType) { case FLOAT -> 4; case FLOAT16 -> 2; case DOUBLE -> 8; default -> 0; };
            if (size == 0) throw new OnnxFormatException(name + ": element type " + dataType + " is not a float type");
            if (data.byteSize() != n * size) throw new OnnxFormatException(name + ": " + data.byteSize() + " bytes for " + n + " elements");
            for (int i = 0; i < out.length; i++) {
                out[i] = switch (dataType) {
                    case FLOAT -> data.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                    case FLOAT16 -> Float.float16ToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
                    default -> (float) data.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i);
                };
            }
            return out;
        }

        /** The values as longs (INT64 or INT32). */
        public long[] longs() {
            long n = elements();
            int size = dataType == INT64 ? 8 : dataType == INT32 ? 4 : 0;
            if (size == 0) throw new OnnxFormatException(name + ": element type " + dataType + " is not an integer type");
            if (data.byteSize() != n * size) throw new OnnxFormatException(name + ": " + data.byteSize() + " bytes for " + n + " elements");
            long[] out = new long[(int) n];
            for (int i = 0; i < n; i++) {
                out[i] = size == 8 ? data.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i) : data.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            }
            return out;
        }
    }

    private final List<Node> nodes;
    private final Map<String, Tensor> initializers;

    private Onnx(List<Node> nodes, Map<String, Tensor> initializers) {
        this.nodes = nodes;
        this.initializers = initializers;
    }

    public List<Node> nodes() {
        return nodes;
    }

    public Map<String, Tensor> initializers() {
        return initializers;
    }

    /** Reads the file, mapped in the arena (tensor data points into it: keep the arena open while using them). */
    public static Onnx read(Path file, Arena arena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        return parse(seg, arena);
    }

    /** Parses a {@code ModelProto} held in memory. */
    public static Onnx parse(MemorySegment model, Arena arena) {
        Wire m = new Wire(model, 0, model.byteSize(), "ModelProto");
        Wire graph = null;
        while (m.more()) {
            int field = m.tag();
            if (field == 7 && m.wireType() == 2) graph = m.message("GraphProto");
            else m.skip();
        }
        if (graph == null) throw new OnnxFormatException("not an ONNX model: no graph (field 7)");
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> inits = new LinkedHashMap<>();
        while (graph.more()) {
            int field = graph.tag();
            if (field == 1 && graph.wireType() == 2) nodes.add(node(graph.message("NodeProto"), arena));
            else if (field == 5 && graph.wireType() == 2) {
                Tensor t = tensor(graph.message("TensorProto"), arena);
                inits.put(t.name(), t);
            } else graph.skip();
        }
        return new Onnx(List.copyOf(nodes), inits);
    }

    private static Node node(Wire w, Arena arena) {
        String op = "", name = "";
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, Long> ints = new LinkedHashMap<>();
        while (w.more()) {
            switch (w.tag()) {
                case 1 -> in.add(w.string());
                case 2 -> out.add(w.string());
                case 3 -> name = w.string();
                case 4 -> op = w.string();
                case 5 -> {
                    Wire a = w.message("AttributeProto");
                    String an = "";
                    Tensor t = null;
                    Long i = null;
                    while (a.more()) {
                        int f = a.tag();
                        if (f == 1) an = a.string();
                        else if (f == 3 && a.wireType() == 0) i = a.varint();
                        else if (f == 5 && a.wireType() == 2) t = tensor(a.message("TensorProto"), arena);
                        else a.skip();
                    }
                    if (t != null) tensors.put(an, t);
                    if (i != null) ints.put(an, i);
                }
                default -> w.skip();
            }
        }
        return new Node(op, name, List.copyOf(in), List.copyOf(out), tensors, ints);
    }

    private static Tensor tensor(Wire w, Arena arena) {
        List<Long> dims = new ArrayList<>();
        int type = 0;
        String name = "";
        MemorySegment raw = null;
        // typed repeated fields: packed (one length-delimited run) or one value per tag
        List<MemorySegment> packed = new ArrayList<>();
        List<Long> loose = new ArrayList<>();
        int typedField = 0;
        while (w.more()) {
            int f = w.tag();
            switch (f) {
                case 1 -> {
                    if (w.wireType() == 2) {
                        Wire p = w.message("dims");
                        while (p.more()) dims.add(p.varint());
                    } else dims.add(w.varint());
                }
                case 2 -> type = (int) w.varint();
                case 8 -> name = w.string();
                case 9 -> raw = w.bytes();
                case 13 -> throw new OnnxFormatException(name + ": tensor with external data is not supported (save the model with its weights inside)");
                case 14 -> {
                    if (w.wireType() != 0) w.skip();
                    else if (w.varint() != 0) throw new OnnxFormatException(name + ": tensor with external data is not supported");
                }
                case 4, 5, 7, 10 -> {
                    typedField = f;
                    if (w.wireType() == 2) packed.add(w.bytes());
                    else loose.add(f == 4 ? (long) w.fixed32() : f == 10 ? w.fixed64() : w.varint());
                }
                default -> w.skip();
            }
        }
        long[] d = dims.stream().mapToLong(Long::longValue).toArray();
        for (long x : d) if (x < 0) throw new OnnxFormatException(name + ": negative dimension " + Arrays.toString(d));
        MemorySegment data;
        if (raw != null) data = raw;
        else if (typedField == 4 || typedField == 10) { // float_data (fixed32) / double_data (fixed64): little-endian already
            data = concat(packed, loose, typedField == 4 ? 4 : 8, arena);
        } else if (typedField == 5 || typedField == 7) { // int32_data / int64_data: varints, widened to the element size
            List<Long> values = new ArrayList<>(loose);
            for (MemorySegment s : packed) {
                Wire p = new Wire(s, 0, s.byteSize(), name);
                while (p.more()) values.add(p.varint());
            }
            int size = type == INT64 ? 8 : type == FLOAT16 ? 2 : 4;
            data = arena.allocate((long) values.size() * size);
            for (int i = 0; i < values.size(); i++) {
                long v = values.get(i);
                if (size == 8) data.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, v);
                else if (size == 2) data.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) v);
                else data.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, (int) v);
            }
        } else data = MemorySegment.NULL.reinterpret(0);
        return new Tensor(name, d, type, data);
    }

    private static MemorySegment concat(List<MemorySegment> packed, List<Long> loose, int size, Arena arena) {
        if (loose.isEmpty() && packed.size() == 1) return packed.get(0);
        long total = (long) loose.size() * size;
        for (MemorySegment s : packed) total += s.byteSize();
        MemorySegment out = arena.allocate(total);
        long at = 0;
        for (MemorySegment s : packed) {
            MemorySegment.copy(s, 0, out, at, s.byteSize());
            at += s.byteSize();
        }
        for (long v : loose) {
            if (size == 4) out.set(ValueLayout.JAVA_INT_UNALIGNED, at, (int) v);
            else out.set(ValueLayout.JAVA_LONG_UNALIGNED, at, v);
            at += size;
        }
        return out;
    }

    /** A protobuf message between two offsets: tags, varints, fixed values and length-delimited fields. */
    static final class Wire {
        private final MemorySegment seg;
        private final String what;
        private long pos;
        private final long end;
        private int wireType;

        Wire(MemorySegment seg, long start, long end, String what) {
            this.seg = seg;
            this.pos = start;
            this.end = end;
            this.what = what;
        }

        boolean more() {
            return pos < end;
        }

        int wireType() {
            return wireType;
        }

        /** The next field number (its wire type in {@link #wireType()}). */
        int tag() {
            long t = varint();
            wireType = (int) (t & 7);
            long field = t >>> 3;
            if (field <= 0 || field > Integer.MAX_VALUE) throw error("bad field number " + field);
            return (int) field;
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw error("truncated varint");
                byte b = seg.get(ValueLayout.JAVA_BYTE, pos++);
                v |= (long) (b & 0x7f) << shift;
                if (b >= 0) return v;
            }
            throw error("varint longer than 10 bytes");
        }

        int fixed32() {
            need(4);
            int v = seg.get(ValueLayout.JAVA_INT_UNALIGNED, pos);
            pos += 4;
            return v;
        }

        long fixed64() {
            need(8);
            long v = seg.get(ValueLayout.JAVA_LONG_UNALIGNED, pos);
            pos += 8;
            return v;
        }

        MemorySegment bytes() {
            if (wireType != 2) throw error("expected a length-delimited field, wire type " + wireType);
            long n = varint();
            if (n < 0) throw error("negative length");
            need(n);
            MemorySegment s = seg.asSlice(pos, n);
            pos += n;
            return s;
        }

        String string() {
            return new String(bytes().toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }

        Wire message(String name) {
            if (wireType != 2) throw error(name + ": expected a message, wire type " + wireType);
            long n = varint();
            if (n < 0) throw error("negative length");
            need(n);
            Wire w = new Wire(seg, pos, pos + n, name);
            pos += n;
            return w;
        }

        void skip() {
            switch (wireType) {
                case 0 -> varint();
                case 1 -> { need(8); pos += 8; }
                case 2 -> bytes();
                case 5 -> { need(4); pos += 4; }
                default -> throw error("unsupported wire type " + wireType);
            }
        }

        private void need(long n) {
            if (n > end - pos) throw error("field of " + n + " bytes runs past its message");
        }

        private OnnxFormatException error(String msg) {
            return new OnnxFormatException(what + " at byte " + pos + ": " + msg);
        }
    }
}
