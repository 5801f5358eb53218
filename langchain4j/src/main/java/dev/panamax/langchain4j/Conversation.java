package dev.panamax.langchain4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.panamax.ChatCall;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.grammar.Grammar;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ToolCall;
import dev.panamax.tokenizer.ToolCallFormat;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One LangChain4j chat request turned into an engine request: messages in the model's chat template (tools rendered
 * by it), sampling from the parameters, a grammar for a JSON response format or a required tool call; and the engine's
 * {@link Generation} turned back into a {@link ChatResponse} (content and tool calls in the model family's format).
 */
final class Conversation {
    static final ObjectMapper JSON = new ObjectMapper();

    final ChatCall call;
    /** The engine request: the call's, with the provider-only settings. */
    final GenerationRequest request;
    final String modelName;

    private Conversation(ChatCall call, boolean ignoreEos, String modelName) {
        this.call = call;
        this.request = ignoreEos ? call.request().withIgnoreEos(true) : call.request();
        this.modelName = modelName;
    }

    static ChatTemplate template(Engine engine) {
        return template(engine.model());
    }

    static ChatTemplate template(dev.panamax.Model model) {
        try {
            return model.chatTemplate();
        } catch (dev.panamax.gguf.GgufFormatException e) {
            throw new IllegalStateException("the model's chat template cannot be read: " + e.getMessage(), e);
        }
    }

    static Conversation of(Engine engine, ChatRequest chat, String modelName) {
        ChatRequestParameters p = chat.parameters();
        List<Map<String, Object>> functions = new ArrayList<>();
        if (p.toolSpecifications() != null) for (ToolSpecification t : p.toolSpecifications()) functions.add(function(t));
        ChatCall.ToolChoice choice = p.toolChoice() == null ? ChatCall.ToolChoice.AUTO : ChatCall.ToolChoice.valueOf(p.toolChoice().name());
        ResponseFormat rf = p.responseFormat();
        Grammar grammar = rf == null || rf.type() != ResponseFormatType.JSON ? null : rf.jsonSchema() == null ? Grammar.jsonObject() : schemaGrammar(rf);
        try {
            return new Conversation(ChatCall.prepare(engine, messages(chat.messages()), functions, choice, grammar, sampling(p),
                    p.stopSequences(), p.maxOutputTokens()),
                    p instanceof PanamaxChatRequestParameters px && Boolean.TRUE.equals(px.ignoreEos()), modelName);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage());
        }
    }

    private static Grammar schemaGrammar(ResponseFormat rf) {
        Map<String, Object> schema = JsonSchemaElementUtils.toMap(rf.jsonSchema().rootElement(), true); // strict, as OpenAI's: all properties required
        try {
            return Grammar.fromJsonSchema(JSON.writeValueAsString(schema));
        } catch (dev.panamax.grammar.GrammarException | com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InvalidRequestException("response format '" + rf.jsonSchema().name() + "' cannot be a grammar: " + e.getMessage());
        }
    }

    /** An OpenAI function object: name, description, parameters (JSON Schema). */
    static Map<String, Object> function(ToolSpecification t) {
        Map<String, Object> fn = new LinkedHashMap<>();
        fn.put("name", t.name());
        if (t.description() != null) fn.put("description", t.description());
        fn.put("parameters", t.parameters() == null ? Map.of("type", "object", "properties", Map.of())
                : JsonSchemaElementUtils.toMap(t.parameters()));
        return fn;
    }

    static SamplingParams sampling(ChatRequestParameters p) {
        PanamaxChatRequestParameters px = p instanceof PanamaxChatRequestParameters x ? x : null;
        long seed = px != null && px.seed() != null ? px.seed() : ThreadLocalRandom.current().nextLong();
        SamplingParams d = SamplingParams.defaults(seed);
        float temperature = p.temperature() == null ? d.temperature() : p.temperature().floatValue();
        int topK = p.topK() == null ? d.topK() : p.topK();
        float topP = p.topP() == null ? d.topP() : p.topP().floatValue();
        float minP = px != null && px.minP() != null ? px.minP().floatValue() : d.minP();
        float freq = p.frequencyPenalty() == null ? 0f : p.frequencyPenalty().floatValue();
        float pres = p.presencePenalty() == null ? 0f : p.presencePenalty().floatValue();
        try {
            return new SamplingParams(temperature, topK, topP, minP, 1f, 64, seed, freq, pres, Map.of(), null);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage());
        }
    }

    static List<ChatMessage> messages(List<dev.langchain4j.data.message.ChatMessage> in) {
        List<ChatMessage> out = new ArrayList<>(in.size());
        for (var m : in) {
            switch (m) {
                case SystemMessage s -> out.add(ChatMessage.system(s.text()));
                case UserMessage u -> {
                    if (!u.hasSingleText()) throw new UnsupportedFeatureException("Panamax models take text only: a user message has " + u.contents());
                    out.add(ChatMessage.user(u.singleText()));
                }
                case AiMessage a -> {
                    List<ToolCall> calls = new ArrayList<>();
                    if (a.hasToolExecutionRequests()) {
                        for (ToolExecutionRequest r : a.toolExecutionRequests()) calls.add(new ToolCall(r.id(), r.name(), r.arguments()));
                    }
                    out.add(ChatMessage.assistant(a.text() == null ? "" : a.text(), calls));
                }
                case ToolExecutionResultMessage t -> out.add(ChatMessage.tool(t.id(), t.toolName(), t.text()));
                default -> throw new UnsupportedFeatureException("message type " + m.type() + " is not supported");
            }
        }
        return out;
    }

    /** The finished generation as LangChain4j's response. */
    ChatResponse response(Generation g) {
        return response(g, call.parse(g.text()));
    }

    /** The finished generation, its text already read back, as LangChain4j's response. */
    ChatResponse response(Generation g, ToolCallFormat.Parsed parsed) {
        String content = parsed.content();
        List<ToolExecutionRequest> calls = new ArrayList<>();
        for (ToolCall c : parsed.calls()) calls.add(ToolExecutionRequest.builder().id(c.id()).name(c.name()).arguments(c.arguments()).build());
        AiMessage.Builder ai = AiMessage.builder().text(content.isEmpty() && !calls.isEmpty() ? null : content);
        if (!calls.isEmpty()) ai.toolExecutionRequests(calls);
        FinishReason finish = !calls.isEmpty() ? FinishReason.TOOL_EXECUTION : switch (g.stop()) {
            case LENGTH, CONTEXT_FULL -> FinishReason.LENGTH;
            case END_OF_GENERATION, STOP_STRING -> FinishReason.STOP;
            default -> FinishReason.OTHER;
        };
        return ChatResponse.builder().aiMessage(ai.build()).modelName(modelName)
                .tokenUsage(new TokenUsage(g.promptTokens().length, g.tokens().length)).finishReason(finish).build();
    }
}
