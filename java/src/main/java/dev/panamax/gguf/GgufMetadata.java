package dev.panamax.gguf;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The key-value metadata of a GGUF file, in file order. Typed getters throw {@link GgufFormatException}
 * naming the key when it is missing or holds another type; the variants with a default return it only when
 * the key is missing (a wrong type is still an error of the file).
 *
 * <p>Raw values ({@link #get}) are boxed so that every value fits: INT8 Byte, UINT8 and INT16 Short, UINT16
 * and INT32 Integer, UINT32, INT64 and UINT64 Long (UINT64 as its raw 64 bits), FLOAT32 Float, FLOAT64
 * Double, BOOL Boolean, STRING String, ARRAY {@link GgufArray} (a lazy {@code List}).
 */
public final class GgufMetadata {

    record Entry(GgufValueType type, Object value) {
    }

    private final Map<String, Entry> entries;

    GgufMetadata(LinkedHashMap<String, Entry> entries) {
        this.entries = Collections.unmodifiableMap(entries);
    }

    public boolean has(String key) {
        return entries.containsKey(key);
    }

    /** Keys in file order. */
    public Set<String> keys() {
        return entries.keySet();
    }

    /** The value type of key, or null when absent. */
    public GgufValueType typeOf(String key) {
        Entry e = entries.get(key);
        return e == null ? null : e.type();
    }

    /** The raw value (see the class comment), or null when absent. */
    public Object get(String key) {
        Entry e = entries.get(key);
        return e == null ? null : e.value();
    }

    public String getString(String key) throws GgufFormatException {
        return (String) require(key, GgufValueType.STRING).value();
    }

    public String getString(String key, String dflt) throws GgufFormatException {
        return has(key) ? getString(key) : dflt;
    }

    /** Any integer type; a UINT64 above {@link Long#MAX_VALUE} is an error. */
    public long getLong(String key) throws GgufFormatException {
        Entry e = require(key);
        if (!e.type().isInteger()) throw wrongType(key, e.type(), "an integer");
        long v = ((Number) e.value()).longValue();
        if (e.type() == GgufValueType.UINT64 && v < 0) {
            throw new GgufFormatException("metadata key '" + key + "': UINT64 value " + Long.toUnsignedString(v)
                    + " exceeds " + Long.MAX_VALUE);
        }
        return v;
    }

    /** Any integer type whose value fits an int. */
    public int getInt(String key) throws GgufFormatException {
        long v = getLong(key);
        if (v != (int) v) throw new GgufFormatException("metadata key '" + key + "': value " + v + " does not fit a 32-bit int");
        return (int) v;
    }

    public int getInt(String key, int dflt) throws GgufFormatException {
        return has(key) ? getInt(key) : dflt;
    }

    /** FLOAT32 or FLOAT64 (narrowed). */
    public float getFloat(String key) throws GgufFormatException {
        Entry e = require(key);
        return switch (e.type()) {
            case FLOAT32 -> (Float) e.value();
            case FLOAT64 -> (float) (double) (Double) e.value();
            default -> throw wrongType(key, e.type(), "FLOAT32 or FLOAT64");
        };
    }

    public float getFloat(String key, float dflt) throws GgufFormatException {
        return has(key) ? getFloat(key) : dflt;
    }

    public boolean getBoolean(String key) throws GgufFormatException {
        return (Boolean) require(key, GgufValueType.BOOL).value();
    }

    public boolean getBoolean(String key, boolean dflt) throws GgufFormatException {
        return has(key) ? getBoolean(key) : dflt;
    }

    /** An array of any element type. */
    public GgufArray getArray(String key) throws GgufFormatException {
        return (GgufArray) require(key, GgufValueType.ARRAY).value();
    }

    public String[] getStringArray(String key) throws GgufFormatException {
        return array(key, GgufValueType.STRING).toStringArray();
    }

    /** An array of FLOAT32 (or FLOAT64, narrowed). */
    public float[] getFloatArray(String key) throws GgufFormatException {
        GgufArray a = getArray(key);
        if (a.elementType() == GgufValueType.FLOAT32) return a.toFloatArrayFrom32();
        if (a.elementType() != GgufValueType.FLOAT64) throw wrongElementType(key, a.elementType(), "FLOAT32 or FLOAT64");
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) (double) (Double) a.get(i);
        return out;
    }

    /** An array of any integer element type whose every value fits an int. */
    public int[] getIntArray(String key) throws GgufFormatException {
        GgufArray a = getArray(key);
        GgufValueType et = a.elementType();
        if (!et.isInteger()) throw wrongElementType(key, et, "an integer type");
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            long v = a.rawLong(i);
            if (v != (int) v) {
                String shown = et == GgufValueType.UINT64 ? Long.toUnsignedString(v) : Long.toString(v);
                throw new GgufFormatException("metadata key '" + key + "': element " + i + " = " + shown + " does not fit a 32-bit int");
            }
            out[i] = (int) v;
        }
        return out;
    }

    private GgufArray array(String key, GgufValueType elementType) throws GgufFormatException {
        GgufArray a = getArray(key);
        if (a.elementType() != elementType) throw wrongElementType(key, a.elementType(), elementType.toString());
        return a;
    }

    private Entry require(String key) throws GgufFormatException {
        Entry e = entries.get(key);
        if (e == null) throw new GgufFormatException("metadata key '" + key + "' is missing");
        return e;
    }

    private Entry require(String key, GgufValueType type) throws GgufFormatException {
        Entry e = require(key);
        if (e.type() != type) throw wrongType(key, e.type(), type.toString());
        return e;
    }

    private static GgufFormatException wrongType(String key, GgufValueType actual, String expected) {
        return new GgufFormatException("metadata key '" + key + "' is " + actual + ", expected " + expected);
    }

    private static GgufFormatException wrongElementType(String key, GgufValueType actual, String expected) {
        return new GgufFormatException("metadata key '" + key + "' is an array of " + actual + ", expected elements of " + expected);
    }

    @Override
    public String toString() {
        return "GgufMetadata" + entries.keySet();
    }
}
