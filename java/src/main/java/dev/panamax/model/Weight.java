package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight as a view of the mapped GGUF file (zero copy): {@code rows} rows of {@code cols} elements of {@code type},
 * or a 1-D F32 vector (rows = 1). Stacked 3-D tensors (per-head or per-expert matrices) are one matrix of all their
 * rows; {@link #slice} views one of them. The factories check shape and type against what the model expects, so a
 * forward pass never meets a surprise.
 */
public record Weight(String name, GgmlType type, int rows, int cols, MemorySegment data) {

    /** The bytes of row r. */
    public MemorySegment row(int r) {
        long rb = type.rowBytes(cols);
        return data.asSlice(r * rb, rb);
    }

    /** Rows [r0, r0 + n) as a weight of their own (one head's or one expert's matrix of a stacked tensor). */
    public Weight slice(int r0, int n) {
        long rb = type.rowBytes(cols);
        return new Weight(name, type, n, cols, data.asSlice(r0 * rb, n * rb));
    }

    public long elements() {
        return (long) rows * cols;
    }

    static GgufTensor require(GgufFile f, String name) throws GgufFormatException {
        GgufTensor t = f.tensor(name);
        if (t == null) throw new GgufFormatException("missing tensor '" + name + "'");
        return t;
    }

    /** A 2-D tensor of ggml shape [cols, rows]. */
    static Weight matrix(GgufTensor t, int rows, int cols) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 2 || s[0] != cols || s[1] != rows) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + cols + ", " + rows + "]");
        }
        return computable(t, rows, cols);
    }

    /** A 3-D tensor of ggml shape [cols, rows, n] as one matrix of n * rows rows (matrix i = rows [i*rows, (i+1)*rows)). */
    static Weight stacked(GgufTensor t, int n, int rows, int cols) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 3 || s[0] != cols || s[1] != rows || s[2] != n) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + cols + ", " + rows + ", " + n + "]");
        }
        if ((long) n * rows > Integer.MAX_VALUE) throw new GgufFormatException("tensor '" + t.name() + "' has too many rows");
        return computable(t, n * rows, cols);
    }

    /** A 1-D tensor of n elements of any computable type as a matrix of one row. */
    static Weight row(GgufTensor t, int n) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 1 || s[0] != n) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + n + "]");
        }
        return computable(t, 1, n);
    }

    private static Weight computable(GgufTensor t, int rows, int cols) throws GgufFormatException {
        if (t.type() == null) {
            throw new GgufFormatException("tensor '" + t.name() + "' has type " + t.typeName() + ", which Panamax cannot compute with");
        }
        if (cols % t.type().blockSize() != 0) {
            throw new GgufFormatException("tensor '" + t.name() + "': rows of " + cols + " are not a multiple of the " + t.type() + " block");
        }
        return new Weight(t.name(), t.type(), rows, cols, t.data());
    }

    /** A 1-D F32 tensor of n values (norms, biases). */
    static Weight vector(GgufTensor t, int n) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 1 || s[0] != n) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + n + "]");
        }
        if (t.type() != GgmlType.F32) {
            throw new GgufFormatException("tensor '" + t.name() + "' must be F32 (as llama.cpp's converters write norms and biases), got " + t.typeName());
        }
        return new Weight(t.name(), GgmlType.F32, 1, n, t.data());
    }

    static Weight optionalVector(GgufFile f, String name, int n) throws GgufFormatException {
        GgufTensor t = f.tensor(name);
        return t == null ? null : vector(t, n);
    }

    /** Elements of the given weights, nulls skipped. */
    static long count(Weight... ws) {
        long n = 0;
        for (Weight w : ws) if (w != null) n += w.elements();
        return n;
    }
}
