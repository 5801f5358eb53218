package dev.panamax.gguf;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a GGUF file, validated: {@code shape} in ggml order (ne0, the row length, first; 0 to 4 dims,
 * each >= 0), {@code offset} relative to the data section and aligned, {@code byteSize} exact for its type,
 * {@code data} the slice of the mapped file holding it. {@code type} is null when Panamax has no kernels for
 * {@code typeId} (the sizes are still checked).
 */
public record GgufTensor(String name, int typeId, GgmlType type, long[] shape, long offset, long byteSize,
                         MemorySegment data) {

    public GgufTensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Product of the dims (1 for 0 dims, as ggml). */
    public long elementCount() {
        long n = 1;
        for (long d : shape) n *= d; // cannot overflow: checked when the file was read
        return n;
    }

    /** ggml's name of the type ("q4_K", "iq2_xs", ...). */
    public String typeName() {
        return GgmlTypeTable.name(typeId);
    }

    @Override
    public String toString() {
        return "GgufTensor[" + name + " " + typeName() + " " + Arrays.toString(shape) + " @" + offset + " +" + byteSize + "]";
    }
}
