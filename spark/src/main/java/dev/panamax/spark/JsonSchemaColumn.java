package dev.panamax.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * A JSON Schema as a Spark column: the {@link StructType} of the values it accepts, and a generated JSON text read into
 * a {@link Row} of that type. The root is an object with {@code properties}; a property is an object with
 * {@code properties} (a nested struct), {@code "string"} (string), {@code "integer"} (bigint), {@code "number"}
 * (double), {@code "boolean"}, an array with {@code items} (array of the item's type), or an {@code enum} / {@code const}
 * whose values share one of these types; {@code ["T", "null"]} is T. Every field is nullable: a property that is not
 * required may be absent. The keywords that only narrow values ({@code required}, {@code minLength}, {@code pattern},
 * {@code format}, {@code minimum}, {@code minItems}, {@code additionalProperties: false}, ...) are the grammar's
 * business. What has no single Spark type ({@code anyOf}, {@code oneOf}, {@code allOf}, {@code $ref}, {@code
 * prefixItems}, additional properties, an object without properties, mixed types) is an {@link
 * IllegalArgumentException} naming where it is, when the job is built.
 */
public final class JsonSchemaColumn {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> NO_SINGLE_TYPE = Set.of("anyOf", "oneOf", "allOf", "$ref", "prefixItems", "not", "if",
            "patternProperties", "dependentSchemas");

    private JsonSchemaColumn() {}

    /**
     * Checks that the schema has a struct type and compiles to a grammar.
     *
     * @throws IllegalArgumentException naming what cannot be used
     */
    static void check(String schemaJson) {
        structType(schemaJson);
        grammar(schemaJson);
    }

    /** The grammar the completions follow (parsed grammars are shared: {@link Grammar} keeps the recent ones). */
    static Grammar grammar(String schemaJson) {
        try {
            return Grammar.fromJsonSchema(schemaJson);
        } catch (GrammarException e) {
            throw new IllegalArgumentException("the JSON schema cannot be used for constrained generation: " + e.getMessage(), e);
        }
    }

    /** The struct type of the objects the schema accepts. */
    public static StructType structType(String schemaJson) {
        JsonNode root;
        try {
            root = JSON.readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the JSON schema is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException("the JSON schema must be a JSON object");
        if (!(type(root, "#") instanceof StructType s)) {
            throw new IllegalArgumentException("the JSON schema at # must describe an object with properties: its values go into a struct column");
        }
        return s;
    }

    private static DataType type(JsonNode s, String where) {
        if (!s.isObject()) throw error(where, "a schema must be a JSON object, got " + s);
        for (String k : NO_SINGLE_TYPE) {
            if (s.has(k)) throw error(where, "'" + k + "' has no single Spark type (supported: object, string, integer, number, boolean, array, enum)");
        }
        if (s.has("enum") || s.has("const")) return literalType(s, where);
        String t = typeName(s, where);
        return switch (t) {
            case "string" -> DataTypes.StringType;
            case "integer" -> DataTypes.LongType;
            case "number" -> DataTypes.DoubleType;
            case "boolean" -> DataTypes.BooleanType;
            case "array" -> {
                JsonNode items = s.get("items");
                if (items == null || !items.isObject()) throw error(where, "an array needs 'items' (one schema) for a Spark array type");
                yield DataTypes.createArrayType(type(items, where + "/items"), true);
            }
            case "object" -> {
                JsonNode ap = s.get("additionalProperties");
                if (ap != null && !(ap.isBoolean() && !ap.asBoolean())) {
                    throw error(where, "'additionalProperties' other than false has no struct type (a struct's fields are fixed)");
                }
                JsonNode props = s.get("properties");
                if (props == null || !props.isObject() || props.isEmpty()) throw error(where, "an object needs 'properties' for a struct type");
                StructType st = new StructType();
                for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> p = it.next();
                    st = st.add(p.getKey(), type(p.getValue(), where + "/properties/" + p.getKey()), true);
                }
                yield st;
            }
            default -> throw error(where, "type '" + t + "' has no Spark type here");
        };
    }

    /** The type name, a ["T", "null"] list read as T. */
    private static String typeName(JsonNode s, String where) {
        JsonNode t = s.get("type");
        if (t == null) throw error(where, "no 'type' (nor enum/const): the Spark type is unknown");
        if (t.isTextual()) return t.asText();
        if (t.isArray()) {
            List<String> named = new ArrayList<>();
            for (JsonNode n : t) if (!n.asText().equals("null")) named.add(n.asText());
            if (named.size() == 1) return named.get(0);
        }
        throw error(where, "type " + t + " has no single Spark type");
    }

    private static DataType literalType(JsonNode s, String where) {
        List<JsonNode> values = new ArrayList<>();
        if (s.has("const")) values.add(s.get("const"));
        if (s.has("enum")) {
            if (!s.get("enum").isArray() || s.get("enum").isEmpty()) throw error(where, "'enum' must be a non-empty array");
            s.get("enum").forEach(values::add);
        }
        DataType out = null;
        for (JsonNode v : values) {
            if (v.isNull()) continue;
            DataType t = v.isTextual() ? DataTypes.StringType : v.isBoolean() ? DataTypes.BooleanType
                    : v.isIntegralNumber() && v.canConvertToLong() ? DataTypes.LongType : v.isNumber() ? DataTypes.DoubleType : null;
            if (t == null) throw error(where, "enum/const value " + v + " has no Spark type (strings, numbers and booleans do)");
            if (out == null || out.equals(t)) out = t;
            else if (isNumeric(out) && isNumeric(t)) out = DataTypes.DoubleType;
            else throw error(where, "enum/const values of different types (" + out.simpleString() + ", " + t.simpleString() + ") have no single Spark type");
        }
        if (out == null) throw error(where, "an enum of nulls only has no Spark type");
        return out;
    }

    private static boolean isNumeric(DataType t) {
        return t.equals(DataTypes.LongType) || t.equals(DataTypes.DoubleType);
    }

    private static IllegalArgumentException error(String where, String what) {
        return new IllegalArgumentException("the JSON schema at " + where + ": " + what);
    }

    /**
     * The JSON text as a row of {@code type}.
     *
     * @throws IllegalArgumentException when the text is not one JSON value of that type
     */
    static Row parse(String json, StructType type) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
        if (node == null) throw new IllegalArgumentException("no JSON value");
        return (Row) value(node, type, "$");
    }

    private static Object value(JsonNode n, DataType t, String where) {
        if (n == null || n.isNull()) return null;
        if (t instanceof StructType st) {
            if (!n.isObject()) throw mismatch(where, "an object", n);
            Object[] v = new Object[st.size()];
            StructField[] f = st.fields();
            for (int i = 0; i < f.length; i++) v[i] = value(n.get(f[i].name()), f[i].dataType(), where + "." + f[i].name());
            return RowFactory.create(v);
        }
        if (t instanceof ArrayType at) {
            if (!n.isArray()) throw mismatch(where, "an array", n);
            Object[] v = new Object[n.size()];
            for (int i = 0; i < v.length; i++) v[i] = value(n.get(i), at.elementType(), where + "[" + i + "]");
            return v;
        }
        if (t.equals(DataTypes.StringType)) {
            if (!n.isTextual()) throw mismatch(where, "a string", n);
            return n.asText();
        }
        if (t.equals(DataTypes.LongType)) {
            if (!n.isIntegralNumber() || !n.canConvertToLong()) throw mismatch(where, "an integer in bigint's range", n);
            return n.longValue();
        }
        if (t.equals(DataTypes.DoubleType)) {
            if (!n.isNumber()) throw mismatch(where, "a number", n);
            return n.doubleValue();
        }
        if (t.equals(DataTypes.BooleanType)) {
            if (!n.isBoolean()) throw mismatch(where, "a boolean", n);
            return n.booleanValue();
        }
        throw new IllegalStateException("no reader for " + t);
    }

    private static IllegalArgumentException mismatch(String where, String expected, JsonNode got) {
        String text = got.toString();
        return new IllegalArgumentException(where + " is not " + expected + ": " + (text.length() > 40 ? text.substring(0, 40) + "..." : text));
    }
}
