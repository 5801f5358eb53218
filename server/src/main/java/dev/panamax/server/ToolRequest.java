package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ToolCall;
import dev.panamax.tokenizer.ToolCallFormat;
import dev.panamax.tokenizer.Tokenizer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The tools of one chat request ({@code tools}, {@code tool_choice}, {@code parallel_tool_calls}): what the chat template
 * is given, the prompt text that makes a required call start, and how the reply is read back into content and calls in
 * the model family's format ({@link ToolCallFormat}). {@code tool_choice: "none"} (or no tools) means no ToolRequest.
 * A required call ({@code "required"} or a named function) is a grammar: the reply is one call in the family's syntax
 * whose arguments follow the function's JSON Schema (DeepSeek's syntax with several tools and no name: the reply only
 * starts inside a call, the arguments are not constrained).
 */
final class ToolRequest {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    final List<Object> tools;
    final ToolCallFormat format;
    final boolean parallel;
    /** Appended to the rendered prompt: the start of a call when one is required without a grammar, else "". */
    final String prefix;
    /** The reply's grammar when a call is required (null otherwise). */
    final Grammar grammar;

    private ToolRequest(List<Object> tools, ToolCallFormat format, boolean parallel, String prefix, Grammar grammar) {
        this.tools = tools;
        this.format = format;
        this.parallel = parallel;
        this.prefix = prefix;
        this.grammar = grammar;
    }

    /** The request's tools, checked; null when it has none or forbids calling them. */
    static ToolRequest of(Params p, ChatTemplate template) {
        JsonNode tools = p.node("tools");
        JsonNode choice = p.node("tool_choice");
        Boolean parallel = p.bool("parallel_tool_calls");
        if (tools == null) {
            if (choice != null && !(choice.isTextual() && (choice.asText().equals("none") || choice.asText().equals("auto")))) {
                throw ApiException.invalid("tool_choice", "'tool_choice' needs 'tools'");
            }
            return null;
        }
        if (!tools.isArray()) throw ApiException.invalid("tools", "'tools' must be a list of tool objects");
        if (tools.size() > 128) throw ApiException.invalid("tools", "'tools' takes at most 128 tools, got " + tools.size());
        Set<String> names = new LinkedHashSet<>();
        for (int i = 0; i < tools.size(); i++) {
            JsonNode t = tools.get(i);
            String at = "tools[" + i + "]";
            if (!t.isObject() || !"function".equals(t.path("type").asText())) {
                throw ApiException.invalid(at, at + " must be {\"type\": \"function\", \"function\": {...}}");
            }
            JsonNode fn = t.get("function");
            if (fn == null || !fn.isObject()) throw ApiException.invalid(at + ".function", at + ".function must be an object");
            JsonNode name = fn.get("name");
            if (name == null || !name.isTextual() || !NAME.matcher(name.asText()).matches()) {
                throw ApiException.invalid(at + ".function.name", at + ".function.name must be 1-64 letters, digits, '_', '.' or '-'");
            }
            if (!names.add(name.asText())) throw ApiException.invalid(at + ".function.name", "two tools are named '" + name.asText() + "'");
            JsonNode params = fn.get("parameters");
            if (params != null && !params.isNull() && !params.isObject()) {
                throw ApiException.invalid(at + ".function.parameters", at + ".function.parameters must be a JSON Schema object");
            }
            JsonNode desc = fn.get("description");
            if (desc != null && !desc.isNull() && !desc.isTextual()) {
                throw ApiException.invalid(at + ".function.description", at + ".function.description must be a string");
            }
        }
        String mode = "auto";
        String named = null;
        if (choice != null) {
            if (choice.isTextual()) {
                mode = choice.asText();
                if (!Set.of("none", "auto", "required").contains(mode)) {
                    throw ApiException.invalid("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
                }
            } else if (choice.isObject() && "function".equals(choice.path("type").asText()) && choice.path("function").path("name").isTextual()) {
                named = choice.get("function").get("name").asText();
                if (!names.contains(named)) throw ApiException.invalid("tool_choice", "'tool_choice' names '" + named + "', which is not among the tools");
                mode = "required";
            } else {
                throw ApiException.invalid("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
            }
        }
        if (tools.isEmpty() || mode.equals("none")) return null;
        ToolCallFormat format = template.toolCallFormat();
        List<Object> plain = ApiHandler.JSON.convertValue(tools, List.class);
        Grammar grammar = mode.equals("required") ? callGrammar(format, tools, named) : null;
        String prefix = mode.equals("required") && grammar == null ? format.callPrefix(named) : "";
        return new ToolRequest(plain, format, parallel == null || parallel, prefix, grammar);
    }

    /** One call of a tool (the named one, else any) in the format's syntax, arguments per their JSON Schema. */
    private static Grammar callGrammar(ToolCallFormat format, JsonNode tools, String named) {
        List<JsonNode> fns = new ArrayList<>();
        for (JsonNode t : tools) fns.add(t.get("function"));
        try {
            return format.callGrammar(fns, named);
        } catch (GrammarException e) {
            throw ApiException.invalid("tools", "the parameters of the tools cannot be turned into a grammar for tool_choice: " + e.getMessage());
        }
    }

    /** The format's marker tokens that the vocabulary has as single tokens: they must reach the text. */
    int[] preservedTokens(Tokenizer tokenizer) {
        return format.markerTokens(tokenizer);
    }

    /** How much of the reply so far can be streamed as content. */
    int contentEnd(String generated) {
        return prefix.isEmpty() ? format.contentEnd(generated) : 0;
    }

    /** The finished reply as content and calls (the first call only unless parallel calls are allowed). */
    ToolCallFormat.Parsed parse(String generated) {
        ToolCallFormat.Parsed p = format.parse(prefix + generated, this::newId);
        if (p.calls().isEmpty() && !prefix.isEmpty()) return new ToolCallFormat.Parsed(generated, List.of()); // not completed
        if (!parallel && p.calls().size() > 1) return new ToolCallFormat.Parsed(p.content(), p.calls().subList(0, 1));
        return p;
    }

    /** OpenAI-style call ids; Mistral's templates require 9 letters and digits. */
    private String newId() {
        int n = format == ToolCallFormat.MISTRAL ? 9 : 24;
        StringBuilder b = new StringBuilder(format == ToolCallFormat.MISTRAL ? "" : "call_");
        for (int i = 0; i < n; i++) b.append(ALNUM.charAt(RANDOM.nextInt(ALNUM.length())));
        return b.toString();
    }

    /** OpenAI's tool_calls array (index added when streaming). */
    static void writeCalls(com.fasterxml.jackson.databind.node.ArrayNode out, List<ToolCall> calls, boolean withIndex) {
        for (int i = 0; i < calls.size(); i++) {
            ToolCall c = calls.get(i);
            var o = out.addObject();
            if (withIndex) o.put("index", i);
            o.put("id", c.id()).put("type", "function");
            o.putObject("function").put("name", c.name()).put("arguments", c.arguments());
        }
    }
}
