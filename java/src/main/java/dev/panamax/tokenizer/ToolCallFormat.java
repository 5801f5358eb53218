package dev.panamax.tokenizer;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.JsonSchemaGrammar;

/**
 * How a model family writes tool calls in its reply, told from its chat template as llama.cpp's {@code common/chat.cpp}
 * does, and how to read them back out of the generated text. A template that renders no tools gets {@link #GENERIC}:
 * the tools and a JSON reply format are put in the system message, and the reply is read as that JSON.
 */
public enum ToolCallFormat {
    /** {@code <tool_call>{"name": .., "arguments": {..}}</tool_call>}, after optional text: Qwen 2.5/3, Hermes 2 Pro/3. */
    HERMES("<tool_call>", "</tool_call>"),
    /** The whole reply is {@code {"name": .., "parameters": {..}}} (optionally after {@code <|python_tag|>}): Llama 3.1-3.3. */
    LLAMA3_JSON("<|python_tag|>"),
    /**
     * DeepSeek R1/V3: {@code <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>
     * ...<｜tool▁calls▁end｜>}; V3.1 writes {@code NAME<｜tool▁sep｜>{..}} inside a call.
     */
    DEEPSEEK("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"),
    /** {@code [TOOL_CALLS][{"name": .., "arguments": {..}, "id": ..}]} (Mistral v3, Nemo) or {@code [TOOL_CALLS]NAME[ARGS]{..}}. */
    MISTRAL("[TOOL_CALLS]", "[ARGS]"),
    /** {@code {"tool_call": {"name": .., "arguments": {..}}}}, {@code {"tool_calls": [..]}} or {@code {"response": ".."}}. */
    GENERIC();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PY_TAG = "<|python_tag|>";
    private static final String DS_CALLS = "<｜tool▁calls▁begin｜>", DS_CALLS_END = "<｜tool▁calls▁end｜>";
    private static final String DS_CALL = "<｜tool▁call▁begin｜>", DS_CALL_END = "<｜tool▁call▁end｜>", DS_SEP = "<｜tool▁sep｜>";

    private final List<String> markers;

    ToolCallFormat(String... markers) {
        this.markers = List.of(markers);
    }

    /** The reply with the tool calls taken out (content may be empty). */
    public record Parsed(String content, List<ToolCall> calls) {
        public Parsed {
            calls = List.copyOf(calls);
        }
    }

    /** The format a chat template's model writes, from what the template renders. */
    public static ToolCallFormat detect(String templateSource) {
        if (templateSource.contains("[TOOL_CALLS]")) return MISTRAL;
        if (templateSource.contains(DS_CALLS)) return DEEPSEEK;
        if (templateSource.contains("<tool_call>")) return HERMES;
        if (templateSource.contains("<|start_header_id|>") && templateSource.contains("ipython")) return LLAMA3_JSON;
        return GENERIC;
    }

    /** Whether the model's template renders a {@code tools} list itself (else the system message carries them). */
    public boolean templateRendersTools() {
        return this != GENERIC;
    }

    /** Special tokens of the format: they must reach the text (llama.cpp's preserved tokens), not vanish as control tokens. */
    public List<String> markers() {
        return markers;
    }

    /** The text to put in the system message when the template renders no tools ({@link #GENERIC}). */
    public static String genericInstruction(String toolsJson, boolean parallel) {
        return "You can call these tools (JSON Schema of each function's arguments):\n" + toolsJson + "\n\n"
                + "Reply with one JSON object only: either {\"tool_call\": {\"name\": \"<function name>\", \"arguments\": {...}}} "
                + (parallel ? "(or {\"tool_calls\": [...]} for several calls) " : "")
                + "to call a tool, or {\"response\": \"<your reply>\"} to answer the user.";
    }

    /** What the reply would start with when it must call a tool: the model is asked to continue from here. */
    public String callPrefix(String functionName) {
        String name = functionName == null ? "" : JSON.valueToTree(functionName).toString();
        boolean named = functionName != null;
        return switch (this) {
            case HERMES -> "<tool_call>\n{\"name\": " + (named ? name + ", \"arguments\": " : "\"");
            case LLAMA3_JSON -> "{\"name\": " + (named ? name + ", \"parameters\": " : "\"");
            case DEEPSEEK -> DS_CALLS + DS_CALL + "function" + DS_SEP + (named ? functionName + "\n```json\n" : "");
            case MISTRAL -> "[TOOL_CALLS][{\"name\": " + (named ? name + ", \"arguments\": " : "\"");
            case GENERIC -> "{\"tool_call\": {\"name\": " + (named ? name + ", \"arguments\": " : "\"");
        };
    }

    /**
     * The grammar of a reply that must be one call, in this format's syntax, of the named function (null: any of them)
     * with arguments that follow the function's JSON Schema: what a required tool choice constrains decoding with.
     * Each function is an OpenAI function object ({@code {"name", "description", "parameters"}}; no parameters: any
     * object). Null for DeepSeek's syntax with several functions and no name (the reply then only starts inside a call:
     * {@link #callPrefix}).
     *
     * @throws dev.panamax.grammar.GrammarException when a function's parameters use what JSON Schema grammars cannot express
     */
    public Grammar callGrammar(List<JsonNode> functions, String named) {
        List<JsonNode> fns = new ArrayList<>();
        for (JsonNode fn : functions) if (named == null || named.equals(fn.path("name").asText())) fns.add(fn);
        if (fns.isEmpty()) throw new IllegalArgumentException(named == null ? "no functions" : "no function is named '" + named + "'");
        String argsKey = this == LLAMA3_JSON ? "parameters" : "arguments";
        var alternatives = JSON.createArrayNode();
        for (JsonNode fn : fns) {
            var call = JSON.createObjectNode().put("type", "object");
            var props = call.putObject("properties");
            props.putObject("name").put("const", fn.get("name").asText());
            props.set(argsKey, parameters(fn));
            call.putArray("required").add("name").add(argsKey);
            alternatives.add(call);
        }
        JsonNode callSchema = alternatives.size() == 1 ? alternatives.get(0) : JSON.createObjectNode().set("anyOf", alternatives);
        String gbnf = switch (this) {
            case HERMES -> wrap(callSchema, "<tool_call>\n", "\n</tool_call>");
            case LLAMA3_JSON -> wrap(callSchema, "", "");
            case MISTRAL -> wrap(callSchema, "[TOOL_CALLS][", "]");
            case GENERIC -> wrap(JSON.createObjectNode().put("type", "object")
                    .<com.fasterxml.jackson.databind.node.ObjectNode>set("properties", JSON.createObjectNode().set("tool_call", callSchema))
                    .set("required", JSON.createArrayNode().add("tool_call")), "", "");
            case DEEPSEEK -> fns.size() != 1 ? null : wrap(parameters(fns.get(0)),
                    DS_CALLS + DS_CALL + "function" + DS_SEP + fns.get(0).get("name").asText() + "\n```json\n",
                    "\n```" + DS_CALL_END + DS_CALLS_END);
        };
        return gbnf == null ? null : Grammar.parse(gbnf, "tool-reply-root");
    }

    private static JsonNode parameters(JsonNode fn) {
        JsonNode p = fn.get("parameters");
        return p == null || p.isNull() ? JSON.createObjectNode().put("type", "object") : p;
    }

    /** The schema's grammar with its root renamed, between two literal texts. */
    private static String wrap(JsonNode schema, String before, String after) {
        String g = JsonSchemaGrammar.toGbnf(schema.toString()).replaceFirst("(?m)^root\\s*::=", "tool-call-json-root ::=");
        return g + "\ntool-reply-root ::= " + literal(before) + " tool-call-json-root " + literal(after) + "\n";
    }

    /** A GBNF string literal ("" for nothing). */
    private static String literal(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** The format's marker tokens that the vocabulary has as single tokens: a request must preserve them in its text. */
    public int[] markerTokens(Tokenizer tokenizer) {
        List<Integer> ids = new ArrayList<>();
        for (String m : markers) {
            int[] t = tokenizer.encode(m, false, true);
            if (t.length == 1) ids.add(t[0]);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * How many leading characters of a reply in progress are surely content (not part of a tool call), so that they
     * can be streamed: up to the first call marker (less a partial marker at the end); nothing while a reply that may
     * be a JSON call is being written.
     */
    public int contentEnd(String text) {
        return switch (this) {
            case HERMES, DEEPSEEK, MISTRAL -> {
                String m = markers.get(0);
                int at = text.indexOf(m);
                yield at >= 0 ? at : text.length() - partialSuffix(text, m);
            }
            case LLAMA3_JSON, GENERIC -> {
                int i = 0;
                while (i < text.length() && Character.isWhitespace(text.charAt(i))) i++;
                if (i == text.length()) yield 0;
                String rest = text.substring(i);
                boolean maybeCall = rest.charAt(0) == '{' || this == LLAMA3_JSON && (rest.startsWith(PY_TAG) || PY_TAG.startsWith(rest));
                yield maybeCall ? 0 : text.length();
            }
        };
    }

    /** The length of the longest end of text that is a proper start of marker. */
    private static int partialSuffix(String text, String marker) {
        for (int n = Math.min(marker.length() - 1, text.length()); n > 0; n--) {
            if (text.regionMatches(text.length() - n, marker, 0, n)) return n;
        }
        return 0;
    }

    /**
     * Reads the tool calls out of a finished reply. Calls without an id get one from {@code ids}. A reply whose call
     * part does not parse is all content (never an error: the model wrote text).
     */
    public Parsed parse(String text, Supplier<String> ids) {
        try {
            Parsed p = switch (this) {
                case HERMES -> hermes(text, ids);
                case LLAMA3_JSON -> llama3(text, ids);
                case DEEPSEEK -> deepseek(text, ids);
                case MISTRAL -> mistral(text, ids);
                case GENERIC -> generic(text, ids);
            };
            if (p != null) return p;
        } catch (IOException | RuntimeException e) {
            // not a well-formed call: the text is the reply
        }
        return new Parsed(text, List.of());
    }

    private static Parsed hermes(String text, Supplier<String> ids) throws IOException {
        int start = text.indexOf("<tool_call>");
        if (start < 0) return null;
        List<ToolCall> calls = new ArrayList<>();
        int at = start;
        while (at >= 0) {
            int open = at + "<tool_call>".length();
            int[] end = new int[1];
            JsonNode call = readJson(text, open, end);
            calls.add(call(call, "arguments", ids));
            int close = skipWs(text, end[0]);
            if (text.startsWith("</tool_call>", close)) close += "</tool_call>".length();
            else if (skipWs(text, close) != text.length()) return null; // a call must be closed unless the reply ends
            at = text.indexOf("<tool_call>", close);
            if (at < 0 && skipWs(text, close) != text.length()) return null; // text after the calls: not a call reply
        }
        return new Parsed(text.substring(0, start).strip(), calls);
    }

    private static Parsed llama3(String text, Supplier<String> ids) throws IOException {
        String t = text.strip();
        if (t.startsWith(PY_TAG)) t = t.substring(PY_TAG.length()).strip();
        if (!t.startsWith("{")) return null;
        List<ToolCall> calls = new ArrayList<>();
        int at = 0;
        while (at < t.length()) {
            int[] end = new int[1];
            JsonNode call = readJson(t, at, end);
            String argsField = call.has("parameters") ? "parameters" : "arguments";
            calls.add(call(call, argsField, ids));
            at = skipWs(t, end[0]);
            if (at < t.length() && t.charAt(at) == ';') at = skipWs(t, at + 1); // several calls: "{..}; {..}"
        }
        return new Parsed("", calls);
    }

    private static Parsed deepseek(String text, Supplier<String> ids) throws IOException {
        int start = text.indexOf(DS_CALLS);
        if (start < 0) return null;
        List<ToolCall> calls = new ArrayList<>();
        int at = text.indexOf(DS_CALL, start);
        while (at >= 0) {
            int body = at + DS_CALL.length();
            int end = text.indexOf(DS_CALL_END, body);
            String part = end < 0 ? text.substring(body) : text.substring(body, end);
            int sep = part.indexOf(DS_SEP);
            if (sep < 0) return null;
            String name, args;
            int fence = part.indexOf("```json");
            if (fence >= 0) { // R1 / V3: [type]<sep>NAME\n```json\n{..}\n```
                name = part.substring(sep + DS_SEP.length(), fence).strip();
                int close = part.indexOf("```", fence + 7);
                args = (close < 0 ? part.substring(fence + 7) : part.substring(fence + 7, close)).strip();
            } else { // V3.1: NAME<sep>{..}
                name = part.substring(0, sep).strip();
                args = part.substring(sep + DS_SEP.length()).strip();
            }
            if (name.isEmpty()) return null;
            calls.add(new ToolCall(ids.get(), name, compactArguments(JSON.readTree(args))));
            if (end < 0) break;
            at = text.indexOf(DS_CALL, end);
        }
        if (calls.isEmpty()) return null;
        return new Parsed(text.substring(0, start).strip(), calls);
    }

    private static Parsed mistral(String text, Supplier<String> ids) throws IOException {
        int start = text.indexOf("[TOOL_CALLS]");
        if (start < 0) return null;
        List<ToolCall> calls = new ArrayList<>();
        int at = skipWs(text, start + "[TOOL_CALLS]".length());
        if (at < text.length() && text.charAt(at) == '[') { // [{"name", "arguments", "id"}, ...]
            int[] end = new int[1];
            JsonNode list = readJson(text, at, end);
            if (!list.isArray()) return null;
            for (JsonNode c : list) calls.add(call(c, "arguments", ids));
        } else { // NAME[ARGS]{..} repeated, each after [TOOL_CALLS]
            while (at < text.length()) {
                int args = text.indexOf("[ARGS]", at);
                if (args < 0) return null;
                String name = text.substring(at, args).strip();
                int[] end = new int[1];
                JsonNode a = readJson(text, args + "[ARGS]".length(), end);
                calls.add(new ToolCall(ids.get(), name, compactArguments(a)));
                at = skipWs(text, end[0]);
                if (text.startsWith("[TOOL_CALLS]", at)) at = skipWs(text, at + "[TOOL_CALLS]".length());
                else if (at < text.length()) return null;
            }
        }
        if (calls.isEmpty()) return null;
        return new Parsed(text.substring(0, start).strip(), calls);
    }

    private static Parsed generic(String text, Supplier<String> ids) throws IOException {
        String t = text.strip();
        if (!t.startsWith("{")) return null;
        int[] end = new int[1];
        JsonNode o = readJson(t, 0, end);
        if (skipWs(t, end[0]) != t.length()) return null;
        if (o.has("tool_call")) return new Parsed("", List.of(call(o.get("tool_call"), "arguments", ids)));
        if (o.has("tool_calls") && o.get("tool_calls").isArray()) {
            List<ToolCall> calls = new ArrayList<>();
            for (JsonNode c : o.get("tool_calls")) calls.add(call(c, "arguments", ids));
            return new Parsed("", calls);
        }
        if (o.has("response") && o.get("response").isTextual()) return new Parsed(o.get("response").asText(), List.of());
        return null;
    }

    /** {"name": .., ARGS: {..} | "json text", "id"?} as a call. */
    private static ToolCall call(JsonNode c, String argsField, Supplier<String> ids) {
        JsonNode name = c.get("name");
        if (name == null || !name.isTextual() || name.asText().isEmpty()) throw new IllegalArgumentException("a call needs a name");
        JsonNode args = c.get(argsField);
        JsonNode id = c.get("id");
        return new ToolCall(id != null && id.isTextual() ? id.asText() : ids.get(), name.asText(),
                args == null || args.isNull() ? "{}" : compactArguments(args));
    }

    /** Arguments as JSON text: an object as written compactly; a string that holds JSON as it is. */
    private static String compactArguments(JsonNode args) {
        return args.isTextual() ? args.asText() : args.toString();
    }

    /** Reads one JSON value starting at (or after whitespace from) {@code from}; {@code end[0]} = index after it. */
    private static JsonNode readJson(String text, int from, int[] end) throws IOException {
        try (JsonParser p = JSON.getFactory().createParser(text.substring(from))) {
            JsonNode n = JSON.readTree(p);
            if (n == null) throw new JsonProcessingException("no JSON value") {};
            end[0] = from + (int) p.currentLocation().getCharOffset();
            return n;
        }
    }

    private static int skipWs(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        return i;
    }
}
