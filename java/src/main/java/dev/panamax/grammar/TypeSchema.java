package dev.panamax.grammar;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.annotation.Annotation;
import java.lang.reflect.AnnotatedArrayType;
import java.lang.reflect.AnnotatedParameterizedType;
import java.lang.reflect.AnnotatedType;
import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A Java type as JSON: the JSON Schema of a record (or a sealed interface of records), the grammar that constrains a
 * generation to it, and the instance read back from the generated text. Records are objects with their components in
 * declaration order, all required except {@link Optional} ones, no other properties; nested records, enums (their
 * constant names), {@code List}/{@code Set}/{@code Collection} and arrays, {@code Map<String, V>}, strings, booleans,
 * integral and floating-point numbers ({@code BigInteger}, {@code BigDecimal} too). A sealed interface is one of its
 * permitted records, told apart by a {@code "type"} property holding the record's simple name. Bean Validation-style
 * annotations are read by simple name wherever they are (component, accessor, type use; Jakarta's or any other
 * package's): {@code @Size(min, max)} on strings and collections, {@code @Min}/{@code @Max} on integers. A type that
 * cannot be expressed (recursive records, {@code Object}, a date class, a non-sealed interface, ...) is an {@link
 * IllegalArgumentException} naming the component where it occurs.
 *
 * @param <T> the Java type
 */
public final class TypeSchema<T> {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The property that names the record of a sealed interface. */
    public static final String TYPE_PROPERTY = "type";

    private final Class<T> type;
    private final ObjectNode schema;
    private volatile Grammar grammar;

    private TypeSchema(Class<T> type, ObjectNode schema) {
        this.type = type;
        this.schema = schema;
    }

    /**
     * The schema of a record or sealed interface.
     *
     * @throws IllegalArgumentException naming the component whose type JSON Schema cannot express here
     */
    public static <T> TypeSchema<T> of(Class<T> type) {
        if (!type.isRecord() && !(type.isInterface() && type.isSealed())) {
            throw new IllegalArgumentException(type.getName() + " is neither a record nor a sealed interface: typed output needs one");
        }
        return new TypeSchema<>(type, new Builder().schema(annotated(type), type.getSimpleName(), new HashSet<>()));
    }

    public Class<T> type() {
        return type;
    }

    /** The JSON Schema (a copy). */
    public ObjectNode schema() {
        return schema.deepCopy();
    }

    /** The JSON Schema as text. */
    public String schemaJson() {
        return schema.toString();
    }

    /** The grammar of the JSON texts the schema accepts (built once). */
    public Grammar grammar() {
        Grammar g = grammar;
        if (g == null) grammar = g = Grammar.fromJsonSchema(schema.toString());
        return g;
    }

    /**
     * The instance the JSON text describes.
     *
     * @throws IllegalArgumentException when the text is not JSON of this schema (a generation under {@link #grammar()}
     *                                  that ended on its own always is)
     */
    public T parse(String json) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
        if (node == null) throw new IllegalArgumentException("no JSON value in the text");
        return type.cast(read(node, type, type.getSimpleName()));
    }

    private static AnnotatedType annotated(Class<?> c) {
        return new AnnotatedType() {
            @Override public Type getType() { return c; }
            @Override public <A extends Annotation> A getAnnotation(Class<A> a) { return null; }
            @Override public Annotation[] getAnnotations() { return new Annotation[0]; }
            @Override public Annotation[] getDeclaredAnnotations() { return new Annotation[0]; }
        };
    }

    private static Class<?> raw(Type t) {
        if (t instanceof Class<?> c) return c;
        if (t instanceof ParameterizedType p) return (Class<?>) p.getRawType();
        if (t instanceof java.lang.reflect.GenericArrayType g) return Array.newInstance(raw(g.getGenericComponentType()), 0).getClass();
        return null;
    }

    private static boolean integral(Class<?> c) {
        return c == int.class || c == Integer.class || c == long.class || c == Long.class || c == short.class
                || c == Short.class || c == byte.class || c == Byte.class || c == BigInteger.class;
    }

    private static boolean floating(Class<?> c) {
        return c == double.class || c == Double.class || c == float.class || c == Float.class || c == BigDecimal.class;
    }

    private static boolean collection(Class<?> c) {
        return c == List.class || c == Set.class || c == Collection.class;
    }

    /** Builds schemas; the annotations of a component apply to its outermost type. */
    private static final class Builder {
        ObjectNode schema(AnnotatedType at, String where, Set<Class<?>> open) {
            return schema(at, List.of(at.getAnnotations()), where, open);
        }

        ObjectNode schema(AnnotatedType at, List<Annotation> annotations, String where, Set<Class<?>> open) {
            Type t = at.getType();
            Class<?> c = raw(t);
            ObjectNode s = JSON.createObjectNode();
            if (c == null) throw cannot(where, t, "a type variable or wildcard");
            if (c == String.class || c == CharSequence.class) {
                s.put("type", "string");
                Long min = bound(annotations, "Size", "min"), max = bound(annotations, "Size", "max");
                if (min != null && min > 0) s.put("minLength", min);
                if (max != null && max < Integer.MAX_VALUE) s.put("maxLength", max);
            } else if (c == char.class || c == Character.class) {
                s.put("type", "string").put("minLength", 1).put("maxLength", 1);
            } else if (c == boolean.class || c == Boolean.class) {
                s.put("type", "boolean");
            } else if (integral(c)) {
                s.put("type", "integer");
                Long min = bound(annotations, "Min", "value"), max = bound(annotations, "Max", "value");
                // the Java type's range, so that every generated number fits (long: the grammar's 16 digits do)
                long lo = c == byte.class || c == Byte.class ? Byte.MIN_VALUE : c == short.class || c == Short.class ? Short.MIN_VALUE
                        : c == int.class || c == Integer.class ? Integer.MIN_VALUE : Long.MIN_VALUE;
                long hi = c == byte.class || c == Byte.class ? Byte.MAX_VALUE : c == short.class || c == Short.class ? Short.MAX_VALUE
                        : c == int.class || c == Integer.class ? Integer.MAX_VALUE : Long.MAX_VALUE;
                if (min != null) lo = Math.max(lo, min);
                if (max != null) hi = Math.min(hi, max);
                if (lo > hi) throw cannot(where, t, "@Min " + lo + " is above @Max " + hi);
                if (lo != Long.MIN_VALUE) s.put("minimum", lo);
                if (hi != Long.MAX_VALUE) s.put("maximum", hi);
            } else if (floating(c)) {
                s.put("type", "number");
                Long min = bound(annotations, "Min", "value"), max = bound(annotations, "Max", "value");
                if (max != null || min != null && min != 0) {
                    throw cannot(where, t, "@Min/@Max on a floating-point number (grammars bound integers only; @Min(0) is allowed)");
                }
                if (min != null) s.put("minimum", 0);
            } else if (c.isEnum()) {
                ArrayNode values = s.putArray("enum");
                for (Object e : c.getEnumConstants()) values.add(((Enum<?>) e).name());
            } else if (collection(c) || c.isArray()) {
                AnnotatedType item = element(at, where, 0);
                if (c.isArray() && (c.getComponentType() == byte.class)) throw cannot(where, t, "byte[] (binary data)");
                s.put("type", "array");
                s.set("items", schema(item, where + "[]", open));
                Long min = bound(annotations, "Size", "min"), max = bound(annotations, "Size", "max");
                if (min != null && min > 0) s.put("minItems", min);
                if (max != null && max < Integer.MAX_VALUE) s.put("maxItems", max);
            } else if (c == Map.class) {
                AnnotatedType key = element(at, where, 0);
                if (key.getType() != String.class) throw cannot(where, t, "a map whose keys are not strings");
                s.put("type", "object");
                s.set("additionalProperties", schema(element(at, where, 1), where + "{}", open));
            } else if (c == Optional.class) {
                throw cannot(where, t, "Optional other than as a record component");
            } else if (c.isRecord()) {
                record(c, s, where, open);
            } else if (c.isInterface() && c.isSealed()) {
                ArrayNode alts = s.putArray("anyOf");
                for (Class<?> p : c.getPermittedSubclasses()) {
                    if (!p.isRecord()) throw cannot(where, p, "a permitted subclass of sealed " + c.getSimpleName() + " that is not a record");
                    ObjectNode alt = JSON.createObjectNode();
                    alt.put("type", "object");
                    alt.putObject("properties").putObject(TYPE_PROPERTY).put("const", p.getSimpleName());
                    record(p, alt, where + "<" + p.getSimpleName() + ">", open);
                    alts.add(alt);
                }
            } else {
                throw cannot(where, t, "no JSON Schema form");
            }
            return s;
        }

        void record(Class<?> c, ObjectNode s, String where, Set<Class<?>> open) {
            if (!open.add(c)) throw cannot(where, c, "a recursive record (it contains itself)");
            s.put("type", "object");
            ObjectNode props = s.has("properties") ? (ObjectNode) s.get("properties") : s.putObject("properties");
            ArrayNode required = JSON.createArrayNode();
            if (props.has(TYPE_PROPERTY)) required.add(TYPE_PROPERTY);
            for (RecordComponent rc : c.getRecordComponents()) {
                String name = rc.getName();
                String at = where + "." + name;
                if (props.has(name)) throw cannot(at, rc.getGenericType(), "a component named '" + TYPE_PROPERTY + "' in a record of a sealed interface (the name tells the records apart)");
                List<Annotation> anns = new ArrayList<>(List.of(rc.getAnnotations()));
                anns.addAll(List.of(rc.getAccessor().getAnnotations()));
                AnnotatedType type = rc.getAnnotatedType();
                anns.addAll(List.of(type.getAnnotations()));
                if (raw(type.getType()) == Optional.class) {
                    AnnotatedType inner = element(type, at, 0);
                    List<Annotation> innerAnns = new ArrayList<>(anns);
                    innerAnns.addAll(List.of(inner.getAnnotations()));
                    props.set(name, schema(inner, innerAnns, at, open));
                } else {
                    props.set(name, schema(type, anns, at, open));
                    required.add(name);
                }
            }
            s.set("required", required);
            s.put("additionalProperties", false);
            open.remove(c);
        }

        /** Type argument i of a parameterized type (or an array's component). */
        static AnnotatedType element(AnnotatedType at, String where, int i) {
            if (at instanceof AnnotatedArrayType a) return a.getAnnotatedGenericComponentType();
            if (at instanceof AnnotatedParameterizedType p) return p.getAnnotatedActualTypeArguments()[i];
            if (at.getType() instanceof Class<?> c && c.isArray()) return annotated(c.getComponentType());
            throw cannot(where, at.getType(), "a raw type: its elements are unknown");
        }
    }

    /** A numeric element of an annotation with this simple name, or null. */
    private static Long bound(List<Annotation> annotations, String simpleName, String element) {
        for (Annotation a : annotations) {
            if (!a.annotationType().getSimpleName().equals(simpleName)) continue;
            Method m;
            try {
                m = a.annotationType().getMethod(element);
            } catch (NoSuchMethodException e) {
                continue; // another annotation of that simple name
            }
            try {
                m.trySetAccessible(); // a non-public annotation interface (e.g. a test's own)
                Object v = m.invoke(a);
                if (v instanceof Number n) return n.longValue();
            } catch (ReflectiveOperationException | RuntimeException e) {
                throw new IllegalArgumentException("cannot read " + a + " (" + e + "): make the annotation public or its package open", e);
            }
        }
        return null;
    }

    private static IllegalArgumentException cannot(String where, Type t, String why) {
        return new IllegalArgumentException(where + " (" + t.getTypeName() + ") cannot be expressed as JSON Schema for typed output: " + why);
    }

    // ---- reading ----

    private static Object read(JsonNode n, Type t, String where) {
        Class<?> c = raw(t);
        if (c == String.class || c == CharSequence.class) return text(n, where);
        if (c == char.class || c == Character.class) {
            String s = text(n, where);
            if (s.length() != 1) throw bad(where, "one character", n);
            return s.charAt(0);
        }
        if (c == boolean.class || c == Boolean.class) {
            if (!n.isBoolean()) throw bad(where, "a boolean", n);
            return n.booleanValue();
        }
        if (integral(c)) {
            if (!n.isIntegralNumber()) throw bad(where, "an integer", n);
            BigInteger v = n.bigIntegerValue();
            if (c == BigInteger.class) return v;
            try {
                if (c == long.class || c == Long.class) return v.longValueExact();
                if (c == int.class || c == Integer.class) return v.intValueExact();
                if (c == short.class || c == Short.class) return v.shortValueExact();
                return v.byteValueExact();
            } catch (ArithmeticException e) {
                throw bad(where, "an integer in range of " + c.getSimpleName(), n);
            }
        }
        if (floating(c)) {
            if (!n.isNumber()) throw bad(where, "a number", n);
            if (c == BigDecimal.class) return n.decimalValue();
            if (c == float.class || c == Float.class) return n.floatValue();
            return n.doubleValue();
        }
        if (c.isEnum()) {
            String s = text(n, where);
            for (Object e : c.getEnumConstants()) if (((Enum<?>) e).name().equals(s)) return e;
            throw bad(where, "one of the constants of " + c.getSimpleName(), n);
        }
        if (collection(c) || c.isArray()) {
            if (!n.isArray()) throw bad(where, "an array", n);
            Type item = c.isArray() ? (t instanceof java.lang.reflect.GenericArrayType g ? g.getGenericComponentType() : c.getComponentType())
                    : ((ParameterizedType) t).getActualTypeArguments()[0];
            List<Object> items = new ArrayList<>();
            for (int i = 0; i < n.size(); i++) items.add(read(n.get(i), item, where + "[" + i + "]"));
            if (c.isArray()) {
                Object a = Array.newInstance(raw(item), items.size());
                for (int i = 0; i < items.size(); i++) Array.set(a, i, items.get(i));
                return a;
            }
            return c == Set.class ? java.util.Collections.unmodifiableSet(new LinkedHashSet<>(items)) : java.util.Collections.unmodifiableList(items);
        }
        if (c == Map.class) {
            if (!n.isObject()) throw bad(where, "an object", n);
            Type v = ((ParameterizedType) t).getActualTypeArguments()[1];
            Map<String, Object> m = new LinkedHashMap<>();
            for (var e : n.properties()) m.put(e.getKey(), read(e.getValue(), v, where + "." + e.getKey()));
            return java.util.Collections.unmodifiableMap(m);
        }
        if (c.isRecord()) return record(n, c, where);
        if (c.isInterface() && c.isSealed()) {
            if (!n.isObject()) throw bad(where, "an object", n);
            String name = n.path(TYPE_PROPERTY).asText(null);
            for (Class<?> p : c.getPermittedSubclasses()) if (p.getSimpleName().equals(name)) return record(n, p, where + "<" + name + ">");
            throw bad(where, "a \"" + TYPE_PROPERTY + "\" naming a record of " + c.getSimpleName(), n);
        }
        throw cannot(where, t, "no JSON Schema form");
    }

    private static Object record(JsonNode n, Class<?> c, String where) {
        if (!n.isObject()) throw bad(where, "an object", n);
        RecordComponent[] rcs = c.getRecordComponents();
        Object[] args = new Object[rcs.length];
        Class<?>[] types = new Class<?>[rcs.length];
        for (int i = 0; i < rcs.length; i++) {
            RecordComponent rc = rcs[i];
            types[i] = rc.getType();
            JsonNode v = n.get(rc.getName());
            String at = where + "." + rc.getName();
            if (rc.getType() == Optional.class) {
                Type inner = ((ParameterizedType) rc.getGenericType()).getActualTypeArguments()[0];
                args[i] = v == null || v.isNull() ? Optional.empty() : Optional.of(read(v, inner, at));
            } else {
                if (v == null) throw new IllegalArgumentException(at + " is missing");
                args[i] = read(v, rc.getGenericType(), at);
            }
        }
        try {
            Constructor<?> k = c.getDeclaredConstructor(types);
            k.setAccessible(true);
            return k.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException(where + ": the record's constructor refused the values: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException(where + ": cannot construct " + c.getName() + ": " + e, e);
        }
    }

    private static String text(JsonNode n, String where) {
        if (!n.isTextual()) throw bad(where, "a string", n);
        return n.textValue();
    }

    private static IllegalArgumentException bad(String where, String expected, JsonNode got) {
        String s = got.toString();
        return new IllegalArgumentException(where + ": expected " + expected + ", got " + (s.length() > 80 ? s.substring(0, 80) + "..." : s));
    }
}
