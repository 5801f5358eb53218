package dev.panamax;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ToolCallFormat;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One chat turn with tools, prepared for an {@link Engine} the way an OpenAI-style API asks for it: the conversation
 * rendered by the model's chat template with the tools (as OpenAI function objects: name, description, parameters as
 * JSON Schema) in the model family's syntax, a grammar when a call is required or a reply format is given, the
 * format's marker tokens preserved; and the generated text read back as content and {@link
 * dev.panamax.tokenizer.ToolCall}s. What framework adapters (LangChain4j, Spring AI) build on, so that each only maps
 * its own types. Bad requests are {@link IllegalArgumentException}s.
 */
public final class ChatCall {
    /** Whether the reply may (AUTO), must (REQUIRED) or must not (NONE: tools are not shown) call a tool. */
    public enum ToolChoice { AUTO, REQUIRED, NONE }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private final GenerationRequest request;
    private final ToolCallFormat format;
    private final String prefix;

    private ChatCall(GenerationRequest request, ToolCallFormat format, String prefix) {
        this.request = request;
        this.format = format;
        this.prefix = prefix;
    }

    /**
     * @param functions     OpenAI function objects ({@code {"name", "description", "parameters"}}); empty: no tools
     * @param replyGrammar  the reply's grammar (a JSON response format), or null; not with a required call
     * @param maxTokens     the token limit, or null for the rest of the context
     * @throws IllegalArgumentException for a request the engine cannot serve (too long, a grammar that cannot be built,
     *                                  a required call without tools, messages the template refuses)
     */
    public static ChatCall prepare(Engine engine, List<ChatMessage> messages, List<Map<String, Object>> functions,
                                   ToolChoice choice, Grammar replyGrammar, SamplingParams sampling, List<String> stop,
                                   Integer maxTokens) {
        ChatTemplate template;
        try {
            template = engine.model().chatTemplate();
        } catch (dev.panamax.gguf.GgufFormatException e) {
            throw new IllegalStateException("the model's chat template cannot be read: " + e.getMessage(), e);
        }
        boolean offer = !functions.isEmpty() && choice != ToolChoice.NONE;
        if (choice == ToolChoice.REQUIRED && functions.isEmpty()) throw new IllegalArgumentException("a required tool call needs tools");
        ToolCallFormat format = offer ? template.toolCallFormat() : null;
        List<Object> tools = new ArrayList<>();
        Grammar grammar = replyGrammar;
        String prefix = "";
        if (offer) {
            List<JsonNode> fns = new ArrayList<>();
            for (Map<String, Object> fn : functions) {
                if (!(fn.get("name") instanceof String)) throw new IllegalArgumentException("a tool without a name: " + fn);
                tools.add(Map.of("type", "function", "function", fn));
                fns.add(JSON.valueToTree(fn));
            }
            if (choice == ToolChoice.REQUIRED) {
                if (replyGrammar != null) throw new IllegalArgumentException("a reply format and a required tool call cannot be combined");
                try {
                    grammar = format.callGrammar(fns, null);
                } catch (GrammarException e) {
                    throw new IllegalArgumentException("the tools' parameters cannot be turned into a grammar for a required call: " + e.getMessage(), e);
                }
                if (grammar == null) prefix = format.callPrefix(null);
            }
        }
        String rendered;
        try {
            rendered = template.render(messages, tools, true) + prefix;
        } catch (dev.panamax.tokenizer.ChatTemplateException e) {
            throw new IllegalArgumentException("the model's chat template does not render these messages: " + e.getMessage(), e);
        }
        int[] ids = template.tokenize(rendered, engine.model().tokenizer());
        int room = engine.contextLength() - ids.length;
        if (room <= 0) throw new IllegalArgumentException("the prompt has " + ids.length + " tokens; the context holds " + engine.contextLength());
        int max = maxTokens == null ? room : maxTokens;
        if (max > room) {
            throw new IllegalArgumentException("prompt (" + ids.length + " tokens) + max tokens (" + max + ") exceed the context of "
                    + engine.contextLength());
        }
        GenerationRequest r = new GenerationRequest(ids, max, sampling.withGrammar(grammar), stop)
                .withPreservedTokens(format == null ? new int[0] : format.markerTokens(engine.model().tokenizer()));
        return new ChatCall(r, format, prefix);
    }

    public GenerationRequest request() {
        return request;
    }

    /** Whether tools were offered (a reply may hold calls). */
    public boolean offersTools() {
        return format != null;
    }

    /** How much of the reply so far is surely content (not a tool call in the making): what can be streamed. */
    public int contentEnd(String generated) {
        if (format == null) return generated.length();
        return prefix.isEmpty() ? format.contentEnd(generated) : 0;
    }

    /** The finished reply as content and calls (each call with a fresh {@code call_...} id when the model gave none). */
    public ToolCallFormat.Parsed parse(String generated) {
        if (format == null) return new ToolCallFormat.Parsed(generated, List.of());
        ToolCallFormat.Parsed p = format.parse(prefix + generated, ChatCall::newId);
        if (p.calls().isEmpty() && !prefix.isEmpty()) return new ToolCallFormat.Parsed(generated, List.of());
        return p;
    }

    private static String newId() {
        StringBuilder b = new StringBuilder("call_");
        for (int i = 0; i < 24; i++) b.append(ALNUM.charAt(RANDOM.nextInt(ALNUM.length())));
        return b.toString();
    }
}
