package dev.panamax.grammar;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * JSON Schema to GBNF, with the rules and whitespace of llama.cpp's converter (common/json-schema-to-grammar.cpp), so
 * that a schema constrains output here as it does there: {@code type} (one or a list), {@code properties},
 * {@code required}, {@code additionalProperties}, {@code enum}, {@code const}, {@code anyOf}/{@code oneOf},
 * {@code allOf} (objects merged), {@code $ref} to {@code #}, {@code #/$defs/..} and {@code #/definitions/..} (nested
 * and recursive), {@code items}/{@code prefixItems}, {@code minItems}/{@code maxItems}, {@code minLength}/
 * {@code maxLength}, integer {@code minimum}/{@code maximum} (and exclusive forms), {@code pattern} (anchored regular
 * expressions of literals, classes, groups, alternation and quantifiers), {@code format} date, time, date-time and
 * uuid. Beyond llama.cpp: {@code properties} beside {@code anyOf}/{@code oneOf} (the object's properties join each
 * alternative) and a non-negative {@code minimum} on numbers. Every other keyword that constrains values is an error,
 * never silently dropped; annotations (title, description, default, examples, ...) are ignored.
 */
public final class JsonSchemaGrammar {

    static final String SPACE_RULE = "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}";

    private static final Map<String, String[]> PRIMITIVES = new LinkedHashMap<>();
    private static final Map<String, String[]> FORMATS = new LinkedHashMap<>();

    private static void prim(Map<String, String[]> m, String name, String body, String... deps) {
        String[] v = new String[deps.length + 1];
        v[0] = body;
        System.arraycopy(deps, 0, v, 1, deps.length);
        m.put(name, v);
    }

    static {
        prim(PRIMITIVES, "boolean", "(\"true\" | \"false\")");
        prim(PRIMITIVES, "decimal-part", "[0-9]{1,16}");
        prim(PRIMITIVES, "integral-part", "[0] | [1-9] [0-9]{0,15}");
        prim(PRIMITIVES, "number", "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)?", "integral-part", "decimal-part");
        prim(PRIMITIVES, "nonneg-number", "(integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)?", "integral-part", "decimal-part");
        prim(PRIMITIVES, "positive-number", "([1-9] [0-9]{0,15} (\".\" decimal-part)? | \"0.\" [0]{0,15} [1-9] [0-9]{0,14}) ([eE] [-+]? integral-part)?", "integral-part", "decimal-part");
        prim(PRIMITIVES, "integer", "(\"-\"? integral-part)", "integral-part");
        prim(PRIMITIVES, "value", "object | array | string | number | boolean | null", "object", "array", "string", "number", "boolean", "null");
        prim(PRIMITIVES, "object", "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? space \"}\"", "string", "value");
        prim(PRIMITIVES, "array", "\"[\" space ( value (\",\" space value)* )? space \"]\"", "value");
        prim(PRIMITIVES, "uuid", "\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12} \"\\\"\"");
        prim(PRIMITIVES, "char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})");
        prim(PRIMITIVES, "string", "\"\\\"\" char* \"\\\"\"", "char");
        prim(PRIMITIVES, "null", "\"null\"");
        prim(FORMATS, "date", "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )");
        prim(FORMATS, "time", "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{3} )? ( \"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )");
        prim(FORMATS, "date-time", "date \"T\" time", "date", "time");
        prim(FORMATS, "date-string", "\"\\\"\" date \"\\\"\"", "date");
        prim(FORMATS, "time-string", "\"\\\"\" time \"\\\"\"", "time");
        prim(FORMATS, "date-time-string", "\"\\\"\" date-time \"\\\"\"", "date-time");
    }

    private static final Set<String> ANNOTATIONS = Set.of("$schema", "$id", "$comment", "title", "description", "default",
            "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", "name", "$anchor");
    private static final Set<String> HANDLED = Set.of("type", "properties", "required", "additionalProperties", "enum",
            "const", "anyOf", "oneOf", "allOf", "$ref", "items", "prefixItems", "minItems", "maxItems", "minLength",
            "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "format");

    private final JsonNode root;
    private final Map<String, String> rules = new TreeMap<>(); // sorted by name, as llama.cpp's std::map prints them
    private final Set<String> refsBeingResolved = new LinkedHashSet<>();

    private JsonSchemaGrammar(JsonNode root) {
        this.root = root;
        rules.put("space", SPACE_RULE);
    }

    /**
     * The GBNF grammar (root rule "root") of the JSON texts this schema accepts.
     *
     * @throws GrammarException for text that is not JSON, or a schema that uses what is not supported
     */
    public static String toGbnf(String schemaJson) {
        String gbnf = build(schemaJson);
        parseOwn(gbnf);
        return gbnf;
    }

    /** The grammar of a schema (parsed once). */
    static Grammar toGrammar(String schemaJson) {
        return parseOwn(build(schemaJson));
    }

    /**
     * Parses the converter's own output. A schema whose $ref reaches itself before any JSON value starts ({"anyOf":
     * [{"$ref": "#/anyOf/0"}, ...]}) converts to a left-recursive rule, and nested counts can multiply past the parser's
     * size limit: both refused as the schema's. Any other parse failure is a defect of this converter, not of the
     * schema: thrown as such, never as the user's error.
     */
    private static Grammar parseOwn(String gbnf) {
        try {
            return Grammar.parse(gbnf);
        } catch (GrammarException e) {
            switch (e.reason()) {
                case LEFT_RECURSION -> throw new GrammarException(
                        "the schema refers to itself through $ref before any JSON value starts (" + e.getMessage() + ")");
                case SIZE_LIMIT -> throw new GrammarException("the schema's nested counts (minItems/maxItems, "
                        + "minLength/maxLength, pattern repetitions) make a grammar over the size limit (" + e.getMessage() + ")");
                case OTHER -> { }
            }
            throw new IllegalStateException("the JSON schema converter wrote GBNF that does not parse: " + e.getMessage(), e);
        }
    }

    private static String build(String schemaJson) {
        JsonNode node;
        try {
            node = new ObjectMapper().readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new GrammarException("the JSON schema is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null) throw new GrammarException("the JSON schema is empty");
        JsonSchemaGrammar c = new JsonSchemaGrammar(node);
        c.visit(node, "", "#");
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, String> e : c.rules.entrySet()) sb.append(e.getKey()).append(" ::= ").append(e.getValue()).append('\n');
        return sb.toString();
    }

    // ---- rules ----

    private String addRule(String name, String rule) {
        String esc = name.replaceAll("[^a-zA-Z0-9-]+", "-");
        if (!rules.containsKey(esc) || rules.get(esc).equals(rule)) {
            rules.put(esc, rule);
            return esc;
        }
        int i = 0;
        while (rules.containsKey(esc + i) && !rules.get(esc + i).equals(rule)) i++;
        rules.put(esc + i, rule);
        return esc + i;
    }

    private String addPrimitive(String name, String[] rule) {
        String n = addRule(name, rule[0]);
        for (int i = 1; i < rule.length; i++) {
            String dep = rule[i];
            String[] r = PRIMITIVES.containsKey(dep) ? PRIMITIVES.get(dep) : FORMATS.get(dep);
            if (!rules.containsKey(dep)) addPrimitive(dep, r);
        }
        return n;
    }

    private String visitPrimitive(String ruleName, String type) {
        return addPrimitive(ruleName.equals("root") ? "root" : type, PRIMITIVES.get(type));
    }

    private static boolean reserved(String name) {
        return name.equals("root") || PRIMITIVES.containsKey(name) || FORMATS.containsKey(name);
    }

    private static GrammarException error(String where, String what) {
        return new GrammarException("JSON schema at " + where + ": " + what);
    }

    static String formatLiteral(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\r' -> sb.append("\\r");
                case '\n' -> sb.append("\\n");
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    private static String constant(JsonNode v) {
        return formatLiteral(v.toString());
    }

    // ---- the visitor ----

    private String visit(JsonNode s, String name, String where) {
        String ruleName = reserved(name) ? name + "-" : name.isEmpty() ? "root" : name;
        String subName = name + (name.isEmpty() ? "" : "-");
        if (s.isBoolean()) {
            if (s.booleanValue()) return addRule(ruleName, addPrimitive("value", PRIMITIVES.get("value")));
            throw error(where, "the schema false accepts nothing");
        }
        if (!s.isObject()) throw error(where, "a schema must be an object or a boolean");
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!HANDLED.contains(k) && !ANNOTATIONS.contains(k)) throw error(where, "keyword '" + k + "' is not supported");
        }
        if (s.has("$ref")) {
            if (s.size() > 1 && hasOtherConstraints(s, "$ref")) throw error(where, "$ref beside other keywords is not supported");
            return addRule(ruleName, resolveRef(s.get("$ref").asText(), where));
        }
        JsonNode alts = s.has("oneOf") ? s.get("oneOf") : s.get("anyOf");
        if (alts != null) {
            if (!alts.isArray() || alts.isEmpty()) throw error(where, "anyOf/oneOf must be a non-empty array");
            if (s.has("properties") || s.has("required")) {
                // the object's own properties join every alternative (llama.cpp drops them)
                List<String> parts = new ArrayList<>();
                for (int i = 0; i < alts.size(); i++) parts.add(visitMerged(s, alts.get(i), name + (name.isEmpty() ? "alternative-" : "-") + i, where + "/anyOf/" + i));
                return addRule(ruleName, String.join(" | ", parts));
            }
            List<String> parts = new ArrayList<>();
            String key = s.has("oneOf") ? "oneOf" : "anyOf";
            for (int i = 0; i < alts.size(); i++) parts.add(visit(alts.get(i), name + (name.isEmpty() ? "alternative-" : "-") + i, where + "/" + key + "/" + i));
            return addRule(ruleName, String.join(" | ", parts));
        }
        if (s.has("allOf")) return visitAllOf(s, name, ruleName, where);
        if (s.has("const")) return addRule(ruleName, constant(s.get("const")));
        if (s.has("enum")) {
            List<String> vals = new ArrayList<>();
            for (JsonNode v : s.get("enum")) vals.add(constant(v));
            if (vals.isEmpty()) throw error(where, "an empty enum accepts nothing");
            return addRule(ruleName, "(" + String.join(" | ", vals) + ")");
        }
        JsonNode type = s.get("type");
        if (type != null && type.isArray()) {
            if (type.isEmpty()) throw error(where, "an empty type list accepts nothing"); // as an empty enum
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < type.size(); i++) {
                com.fasterxml.jackson.databind.node.ObjectNode one = ((com.fasterxml.jackson.databind.node.ObjectNode) s).deepCopy();
                one.set("type", type.get(i));
                parts.add(visit(one, name + (name.isEmpty() ? "alternative-" : "-") + i, where));
            }
            return addRule(ruleName, String.join(" | ", parts));
        }
        String t = type == null ? null : type.asText();
        if (t == null) {
            if (s.has("properties") || s.has("additionalProperties") || s.has("required")) t = "object";
            else if (s.has("items") || s.has("prefixItems") || s.has("minItems") || s.has("maxItems")) t = "array";
            else if (s.has("pattern") || s.has("format") || s.has("minLength") || s.has("maxLength")) t = "string";
            else if (s.has("minimum") || s.has("maximum") || s.has("exclusiveMinimum") || s.has("exclusiveMaximum")) t = "number";
        }
        if (t == null) return addRule(ruleName, addPrimitive("value", PRIMITIVES.get("value")));
        return switch (t) {
            case "object" -> visitObject(s, name, ruleName, where);
            case "array" -> visitArray(s, subName, ruleName, where);
            case "string" -> visitString(s, ruleName, where);
            case "integer" -> visitInteger(s, ruleName, where);
            case "number" -> visitNumber(s, ruleName, where);
            case "boolean" -> visitPrimitive(ruleName, "boolean");
            case "null" -> visitPrimitive(ruleName, "null");
            default -> throw error(where, "unknown type '" + t + "'");
        };
    }

    private static boolean hasOtherConstraints(JsonNode s, String except) {
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals(except) && !ANNOTATIONS.contains(k)) return true;
        }
        return false;
    }

    private String visitMerged(JsonNode outer, JsonNode alt, String name, String where) {
        JsonNode target = alt.has("$ref") ? lookup(alt.get("$ref").asText(), where) : alt;
        com.fasterxml.jackson.databind.node.ObjectNode m = new ObjectMapper().createObjectNode();
        com.fasterxml.jackson.databind.node.ObjectNode props = m.putObject("properties");
        com.fasterxml.jackson.databind.node.ArrayNode req = m.putArray("required");
        for (JsonNode part : List.of(outer, target)) {
            if (part.has("properties")) part.get("properties").fields().forEachRemaining(e -> props.set(e.getKey(), e.getValue()));
            if (part.has("required")) for (JsonNode r : part.get("required")) req.add(r);
            if (part.has("additionalProperties")) m.set("additionalProperties", part.get("additionalProperties"));
        }
        if (target.has("type") && !target.get("type").asText().equals("object")) throw error(where, "properties beside a non-object alternative");
        m.put("type", "object");
        return visit(m, name, where);
    }

    private JsonNode lookup(String ref, String where) {
        if (!ref.startsWith("#")) throw error(where, "$ref '" + ref + "' is not local (only #/... references are supported)");
        JsonNode n = root;
        String frag = ref.substring(1);
        if (frag.isEmpty()) return root;
        if (!frag.startsWith("/")) throw error(where, "$ref '" + ref + "' is not a JSON pointer");
        for (String part : frag.substring(1).split("/", -1)) {
            part = part.replace("~1", "/").replace("~0", "~");
            if (n.isArray() && !part.matches("0|[1-9][0-9]{0,8}")) throw error(where, "$ref '" + ref + "' indexes an array with '" + part + "'");
            n = n.isArray() ? n.get(Integer.parseInt(part)) : n.get(part);
            if (n == null) throw error(where, "$ref '" + ref + "' does not resolve");
        }
        return n;
    }

    private String resolveRef(String ref, String where) {
        String frag = ref.contains("#") ? ref.substring(ref.indexOf('#') + 1) : ref;
        String refName = "ref" + frag.replaceAll("[^a-zA-Z0-9-]+", "-");
        if (!rules.containsKey(refName) && !refsBeingResolved.contains(ref)) {
            JsonNode target = lookup(ref, where);
            refsBeingResolved.add(ref);
            refName = visit(target, refName, ref);
            refsBeingResolved.remove(ref);
        }
        return refName;
    }

    private String visitAllOf(JsonNode s, String name, String ruleName, String where) {
        JsonNode all0 = s.get("allOf");
        if (!all0.isArray() || all0.isEmpty()) throw error(where, "allOf must be a non-empty array");
        for (JsonNode c : all0) if (!c.isObject()) throw error(where, "allOf's parts must be schema objects");
        Map<String, Integer> enumCounts = new TreeMap<>();
        boolean allEnums = true;
        for (JsonNode c : all0) {
            JsonNode comp = c.has("$ref") ? lookup(c.get("$ref").asText(), where) : c;
            if (!comp.has("enum")) { allEnums = false; break; }
            for (JsonNode v : comp.get("enum")) enumCounts.merge(constant(v), 1, Integer::sum);
        }
        if (allEnums) { // the values every part allows
            List<String> common = new ArrayList<>();
            for (Map.Entry<String, Integer> e : enumCounts.entrySet()) if (e.getValue() == all0.size()) common.add(e.getKey());
            if (common.isEmpty()) throw error(where, "the enums of allOf have no value in common");
            return addRule(ruleName, "(" + String.join(" | ", common) + ")");
        }
        Map<String, JsonNode> props = new LinkedHashMap<>();
        Set<String> required = new LinkedHashSet<>();
        JsonNode all = s.get("allOf");
        for (int i = 0; i < all.size(); i++) {
            JsonNode c = all.get(i);
            boolean isRequired = true;
            List<JsonNode> comps = new ArrayList<>();
            if (c.has("anyOf") || c.has("oneOf")) {
                for (JsonNode a : c.has("anyOf") ? c.get("anyOf") : c.get("oneOf")) comps.add(a);
                isRequired = false;
            } else {
                comps.add(c);
            }
            for (JsonNode comp : comps) {
                if (comp.has("$ref")) comp = lookup(comp.get("$ref").asText(), where);
                if (!comp.has("properties")) throw error(where + "/allOf/" + i, "allOf is supported for objects with properties only");
                for (Iterator<Map.Entry<String, JsonNode>> it = comp.get("properties").fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    props.put(e.getKey(), e.getValue());
                    if (isRequired) required.add(e.getKey());
                }
            }
        }
        return addRule(ruleName, buildObject(props, required, name, null, where));
    }

    private String visitObject(JsonNode s, String name, String ruleName, String where) {
        JsonNode addl = s.get("additionalProperties");
        JsonNode propsNode = s.get("properties");
        if ((propsNode == null || propsNode.isEmpty()) && (addl == null || (addl.isBoolean() && addl.booleanValue()) || (addl.isObject() && addl.isEmpty()))) {
            if (!s.has("required") || s.get("required").isEmpty()) return addRule(ruleName, addPrimitive("object", PRIMITIVES.get("object")));
        }
        Map<String, JsonNode> props = new LinkedHashMap<>();
        if (propsNode != null) propsNode.fields().forEachRemaining(e -> props.put(e.getKey(), e.getValue()));
        Set<String> required = new LinkedHashSet<>();
        if (s.has("required")) for (JsonNode r : s.get("required")) required.add(r.asText());
        for (String r : required) if (!props.containsKey(r)) throw error(where, "required property '" + r + "' has no schema in properties");
        JsonNode additional = addl == null ? null : (addl.isBoolean() ? (addl.booleanValue() ? addl : null) : addl);
        return addRule(ruleName, buildObject(props, required, name, additional, where));
    }

    private String buildObject(Map<String, JsonNode> props, Set<String> required, String name, JsonNode additional, String where) {
        List<String> requiredProps = new ArrayList<>(), optionalProps = new ArrayList<>(), propNames = new ArrayList<>();
        Map<String, String> kv = new LinkedHashMap<>();
        String dash = name.isEmpty() ? "" : "-";
        for (Map.Entry<String, JsonNode> e : props.entrySet()) {
            String p = e.getKey();
            String propRule = visit(e.getValue(), name + dash + p, where + "/properties/" + p);
            kv.put(p, addRule(name + dash + p + "-kv", formatLiteral(new com.fasterxml.jackson.databind.node.TextNode(p).toString())
                    + " space \":\" space " + propRule));
            if (required.contains(p)) requiredProps.add(p);
            else optionalProps.add(p);
            propNames.add(p);
        }
        if (additional != null) {
            String sub = name + dash + "additional";
            boolean any = additional.isBoolean() || (additional.isObject() && additional.isEmpty());
            String valueRule = any ? addPrimitive("value", PRIMITIVES.get("value")) : visit(additional, sub + "-value", where + "/additionalProperties");
            String keyRule = propNames.isEmpty() ? addPrimitive("string", PRIMITIVES.get("string")) : addRule(sub + "-k", notStrings(propNames));
            kv.put("*", addRule(sub + "-kv", keyRule + " \":\" space " + valueRule));
            optionalProps.add("*");
        }
        if (requiredProps.isEmpty() && optionalProps.isEmpty()) return "\"{\" space \"}\"";
        StringBuilder rule = new StringBuilder("\"{\" space ");
        for (int i = 0; i < requiredProps.size(); i++) {
            if (i > 0) rule.append(" \",\" space ");
            rule.append(kv.get(requiredProps.get(i)));
        }
        if (!optionalProps.isEmpty()) {
            rule.append(" (");
            if (!requiredProps.isEmpty()) rule.append(" \",\" space ( ");
            for (int i = 0; i < optionalProps.size(); i++) {
                if (i > 0) rule.append(" | ");
                rule.append(recursiveRefs(optionalProps.subList(i, optionalProps.size()), false, kv, name));
            }
            if (!requiredProps.isEmpty()) rule.append(" )");
            rule.append(" )?");
        }
        rule.append(" space \"}\"");
        return rule.toString();
    }

    private String recursiveRefs(List<String> ks, boolean firstIsOptional, Map<String, String> kv, String name) {
        if (ks.isEmpty()) return "";
        String k = ks.get(0);
        String kvRule = kv.get(k);
        String commaRef = "( \",\" space " + kvRule + " )";
        String res = firstIsOptional ? commaRef + (k.equals("*") ? "*" : "?") : kvRule + (k.equals("*") ? " " + commaRef + "*" : "");
        if (ks.size() > 1) {
            res += " " + addRule(name + (name.isEmpty() ? "" : "-") + k + "-rest", recursiveRefs(ks.subList(1, ks.size()), true, kv, name));
        }
        return res;
    }

    /** A JSON string that is none of these (llama.cpp's _not_strings: a trie of the names). */
    private String notStrings(List<String> strings) {
        String charRule = addPrimitive("char", PRIMITIVES.get("char"));
        Trie trie = new Trie();
        for (String s : strings) trie.insert(s);
        StringBuilder out = new StringBuilder("[\"] ( ");
        notStringsVisit(trie, out, charRule);
        out.append(" )");
        if (!trie.end) out.append('?');
        out.append(" [\"]");
        return out.toString();
    }

    private static final class Trie {
        final TreeMap<Integer, Trie> children = new TreeMap<>();
        boolean end;

        void insert(String s) {
            Trie t = this;
            for (int cp : s.codePoints().toArray()) t = t.children.computeIfAbsent(cp, k -> new Trie());
            t.end = true;
        }
    }

    private static void notStringsVisit(Trie node, StringBuilder out, String charRule) {
        StringBuilder rejects = new StringBuilder();
        boolean first = true;
        for (Map.Entry<Integer, Trie> e : node.children.entrySet()) {
            String c = classChar(e.getKey());
            rejects.append(c);
            if (!first) out.append(" | ");
            first = false;
            out.append('[').append(c).append(']');
            if (!e.getValue().children.isEmpty()) {
                out.append(" (");
                notStringsVisit(e.getValue(), out, charRule);
                out.append(')');
            } else {
                out.append(' ').append(charRule).append('+');
            }
        }
        if (!node.children.isEmpty()) out.append(" | [^\"").append(rejects).append("] ").append(charRule).append('*');
    }

    private static String classChar(int cp) {
        return switch (cp) {
            case '\\' -> "\\\\";
            case ']' -> "\\]";
            case '-' -> "\\-";
            case '"' -> "\\\"";
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            default -> new String(Character.toChars(cp));
        };
    }

    private String visitArray(JsonNode s, String subName, String ruleName, String where) {
        JsonNode items = s.get("items");
        JsonNode prefix = s.get("prefixItems");
        if (items != null && items.isArray()) { prefix = items; items = null; } // draft-4 tuple form
        if (prefix != null && prefix.isObject()) { // an object here means the items' schema (as llama.cpp reads it)
            if (items == null) items = prefix;
            prefix = null;
        }
        int min = s.has("minItems") ? s.get("minItems").asInt() : 0;
        int max = s.has("maxItems") ? s.get("maxItems").asInt() : -1;
        if (prefix != null) {
            if (items != null && !(items.isBoolean() && !items.booleanValue())) throw error(where, "prefixItems followed by more items is not supported");
            StringBuilder rule = new StringBuilder("\"[\" space ");
            for (int i = 0; i < prefix.size(); i++) {
                if (i > 0) rule.append(" \",\" space ");
                rule.append(visit(prefix.get(i), subName + "tuple-" + i, where + "/prefixItems/" + i));
            }
            rule.append(" space \"]\"");
            return addRule(ruleName, rule.toString());
        }
        if ((items == null || (items.isObject() && items.isEmpty()) || (items.isBoolean() && items.booleanValue())) && min == 0 && max < 0) {
            return visitPrimitive(ruleName, "array");
        }
        if (max >= 0 && max < min) throw error(where, "maxItems " + max + " is below minItems " + min);
        String item = items == null || items.isBoolean() ? addPrimitive("value", PRIMITIVES.get("value")) : visit(items, subName + "item", where + "/items");
        return addRule(ruleName, "\"[\" space " + repetition(item, min, max < 0 ? Integer.MAX_VALUE : max, "\",\" space") + " space \"]\"");
    }

    static String repetition(String item, int min, int max, String sep) {
        if (min > GbnfParser.MAX_REPETITION_THRESHOLD) { // the GBNF parser's limit: say so here, with the count
            throw new GrammarException("JSON schema: a minimum of " + min + " repetitions (minLength, minItems or a {n,}"
                    + " count) is more than the grammar's limit of " + GbnfParser.MAX_REPETITION_THRESHOLD);
        }
        boolean hasMax = max != Integer.MAX_VALUE;
        if (max == 0) return "";
        if (min == 0 && max == 1) return item + "?";
        if (sep.isEmpty()) {
            if (min == 1 && !hasMax) return item + "+";
            if (min == 0 && !hasMax) return item + "*";
            return item + "{" + min + "," + (hasMax ? String.valueOf(max) : "") + "}";
        }
        String result = item + " " + repetition("(" + sep + " " + item + ")", min == 0 ? 0 : min - 1, hasMax ? max - 1 : max, "");
        return min == 0 ? "(" + result + ")?" : result;
    }

    private String visitString(JsonNode s, String ruleName, String where) {
        if (s.has("pattern")) return addRule(ruleName, new PatternConverter(this, s.get("pattern").asText(), ruleName, where).convert());
        if (s.has("format")) {
            String f = s.get("format").asText();
            if (f.equals("uuid")) return visitPrimitive(ruleName, "uuid");
            if (f.equals("date") || f.equals("time") || f.equals("date-time")) {
                return addRule(ruleName, addPrimitive(f + "-string", FORMATS.get(f + "-string")));
            }
            throw error(where, "string format '" + f + "' is not supported (date, time, date-time, uuid are)");
        }
        int min = s.has("minLength") ? s.get("minLength").asInt() : 0;
        int max = s.has("maxLength") ? s.get("maxLength").asInt() : -1;
        if (min > 0 || max >= 0) {
            if (max >= 0 && max < min) throw error(where, "maxLength " + max + " is below minLength " + min);
            String c = addPrimitive("char", PRIMITIVES.get("char"));
            return addRule(ruleName, "\"\\\"\" " + repetition(c, min, max < 0 ? Integer.MAX_VALUE : max, "") + " \"\\\"\"");
        }
        return visitPrimitive(ruleName, "string");
    }

    private String visitInteger(JsonNode s, String ruleName, String where) {
        long min = Long.MIN_VALUE, max = Long.MAX_VALUE;
        if (s.has("minimum")) min = ceil(s.get("minimum"), where);
        if (s.has("exclusiveMinimum") && s.get("exclusiveMinimum").isNumber()) {
            long b = floor(s.get("exclusiveMinimum"), where);
            if (b == Long.MAX_VALUE) throw error(where, "no 64-bit integer lies above exclusiveMinimum " + b);
            min = Math.max(min, b + 1);
        }
        if (s.has("maximum")) max = floor(s.get("maximum"), where);
        if (s.has("exclusiveMaximum") && s.get("exclusiveMaximum").isNumber()) {
            long b = ceil(s.get("exclusiveMaximum"), where);
            if (b == Long.MIN_VALUE) throw error(where, "no 64-bit integer lies below exclusiveMaximum " + b);
            max = Math.min(max, b - 1);
        }
        if (min == Long.MIN_VALUE && max == Long.MAX_VALUE) return visitPrimitive(ruleName, "integer");
        if (min > max) throw error(where, "no integer lies between minimum " + min + " and maximum " + max);
        // numbers of up to 16 digits, as llama.cpp's converter, or more when a bound has that many (a one-sided bound of
        // 16+ digits would otherwise ask for more digits than the cap: an empty, unparseable repetition)
        int digits = 16;
        if (min != Long.MIN_VALUE) digits = Math.max(digits, Long.toString(min).length() + 1);
        if (max != Long.MAX_VALUE) digits = Math.max(digits, Long.toString(max).length() + 1);
        StringBuilder out = new StringBuilder("(");
        IntRange.build(min, max, out, digits, true);
        out.append(')');
        return addRule(ruleName, out.toString());
    }

    private static long ceil(JsonNode n, String where) {
        return bound(n, RoundingMode.CEILING, where);
    }

    private static long floor(JsonNode n, String where) {
        return bound(n, RoundingMode.FLOOR, where);
    }

    private static final BigDecimal LONG_MIN = BigDecimal.valueOf(Long.MIN_VALUE),
            LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    /** An integer bound, exactly (no double rounding), refused outside the 64-bit range rather than clamped to it. */
    private static long bound(JsonNode n, RoundingMode mode, String where) {
        if (!n.isNumber()) throw error(where, "a bound must be a number");
        boolean finite = !(n.isDouble() || n.isFloat()) || Double.isFinite(n.asDouble()); // 1e999 parses to an infinity
        BigDecimal v = finite ? n.decimalValue() : null;
        if (v == null || v.compareTo(LONG_MIN) < 0 || v.compareTo(LONG_MAX) > 0) {
            throw error(where, "the bound " + n.asText() + " is outside the 64-bit integer range");
        }
        return v.setScale(0, mode).longValueExact();
    }

    private String visitNumber(JsonNode s, String ruleName, String where) {
        if (s.has("maximum") || s.has("exclusiveMaximum")) throw error(where, "maximum on a number is not supported (use type integer)");
        if (s.has("minimum") || s.has("exclusiveMinimum")) {
            JsonNode m = s.has("minimum") ? s.get("minimum") : s.get("exclusiveMinimum");
            if (!m.isNumber() || m.asDouble() != 0 || s.has("minimum") && s.has("exclusiveMinimum")) {
                throw error(where, "a number minimum other than 0 is not supported (use type integer)");
            }
            if (s.has("exclusiveMinimum")) return addPrimitive(ruleName.equals("root") ? "root" : "positive-number", PRIMITIVES.get("positive-number"));
            return addPrimitive(ruleName.equals("root") ? "root" : "nonneg-number", PRIMITIVES.get("nonneg-number"));
        }
        return visitPrimitive(ruleName, "number");
    }

    String addDot() {
        return addRule("dot", "[^\\x0A\\x0D]");
    }

    String addRuleFromPattern(String name, String rule) {
        return addRule(name, rule);
    }
}
