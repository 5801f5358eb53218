package dev.panamax.gguf;

/** Metadata value types with the ids GGUF stores ({@code enum gguf_type}); {@link #size()} is 0 for variable sizes. */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, 0),
    ARRAY(9, 0),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = values();

    private final int id;
    private final int size;

    GgufValueType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    /** The id stored in the file. */
    public int id() {
        return id;
    }

    /** Bytes of one value, 0 for STRING and ARRAY. */
    public int size() {
        return size;
    }

    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** The type with this id, or null when the id is not a GGUF value type. */
    public static GgufValueType ofId(int id) {
        // ids are the ordinals: the enum lists them in order with no gaps
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
    }

    /** Smallest number of bytes a value of this type occupies in a file (bounds hostile counts). */
    long minEncodedSize() {
        return switch (this) {
            case STRING -> 8;          // u64 length, possibly empty
            case ARRAY -> 4 + 8;       // element type + u64 count, possibly empty
            default -> size;
        };
    }
}
