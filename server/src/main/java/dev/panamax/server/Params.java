package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** Typed, range-checked reads of a JSON request body; every failure is a 400 naming the parameter. */
final class Params {
    final JsonNode body;

    Params(JsonNode body) {
        if (body == null || !body.isObject()) throw ApiException.invalid(null, "the request body must be a JSON object");
        this.body = body;
    }

    /** Present and not JSON null. */
    boolean has(String name) {
        JsonNode n = body.get(name);
        return n != null && !n.isNull();
    }

    JsonNode node(String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    JsonNode required(String name) {
        JsonNode n = node(name);
        if (n == null) throw new ApiException(400, "invalid_request_error", "missing_required_parameter", name,
                "'" + name + "' is required");
        return n;
    }

    Double number(String name, double min, double max) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isNumber()) throw ApiException.invalid(name, "'" + name + "' must be a number, got " + kind(n));
        double v = n.asDouble();
        if (!(v >= min && v <= max)) throw ApiException.invalid(name, "'" + name + "' must be in [" + fmt(min) + ", " + fmt(max) + "], got " + n);
        return v;
    }

    Long integer(String name, long min, long max) {
        JsonNode n = node(name);
        if (n == null) return null;
        return integer(n, name, min, max);
    }

    static long integer(JsonNode n, String name, long min, long max) {
        boolean whole = n.isIntegralNumber() && n.canConvertToLong()
                || n.isFloatingPointNumber() && n.asDouble() == Math.rint(n.asDouble()) && Math.abs(n.asDouble()) < 9e15;
        if (!whole) throw ApiException.invalid(name, "'" + name + "' must be an integer, got " + kind(n));
        long v = n.asLong();
        if (v < min || v > max) throw ApiException.invalid(name, "'" + name + "' must be in [" + min + ", " + max + "], got " + v);
        return v;
    }

    Boolean bool(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isBoolean()) throw ApiException.invalid(name, "'" + name + "' must be a boolean, got " + kind(n));
        return n.asBoolean();
    }

    String string(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isTextual()) throw ApiException.invalid(name, "'" + name + "' must be a string, got " + kind(n));
        return n.asText();
    }

    /** {@code stop}: a string or a list of non-empty strings. */
    List<String> stop(String name, int maxCount) {
        JsonNode n = node(name);
        List<String> out = new ArrayList<>();
        if (n == null) return out;
        if (n.isTextual()) out.add(n.asText());
        else if (n.isArray()) {
            for (JsonNode e : n) {
                if (!e.isTextual()) throw ApiException.invalid(name, "'" + name + "' must be a string or a list of strings");
                out.add(e.asText());
            }
        } else throw ApiException.invalid(name, "'" + name + "' must be a string or a list of strings, got " + kind(n));
        if (out.size() > maxCount) throw ApiException.invalid(name, "'" + name + "' takes at most " + maxCount + " strings, got " + out.size());
        for (String s : out) if (s.isEmpty()) throw ApiException.invalid(name, "'" + name + "' strings must not be empty");
        return out;
    }

    /** Refuses a parameter the engine cannot honour unless it has its neutral value. */
    void unsupportedUnless(String name, java.util.function.Predicate<JsonNode> neutral, String why) {
        JsonNode n = node(name);
        if (n != null && !neutral.test(n)) throw ApiException.unsupported(name, "'" + name + "' is not supported by this server: " + why);
    }

    static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "the number " + n;
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> n.getNodeType().toString().toLowerCase();
        };
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
