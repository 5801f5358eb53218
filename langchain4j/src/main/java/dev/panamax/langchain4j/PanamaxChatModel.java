package dev.panamax.langchain4j;

import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletionException;

/**
 * LangChain4j's {@link ChatModel} on a Panamax {@link Engine} in this JVM: each call is one engine request (many
 * callers share the engine's batch). The engine stays the caller's: close it when done.
 */
public class PanamaxChatModel implements ChatModel {
    private final Engine engine;
    private final ChatRequestParameters defaults;

    public PanamaxChatModel(Engine engine) {
        this(engine, PanamaxChatRequestParameters.builder().build());
    }

    /** With default request parameters (a request's own override them). */
    public PanamaxChatModel(Engine engine, ChatRequestParameters defaults) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.defaults = defaults.modelName() != null ? defaults
                : PanamaxChatRequestParameters.builder().overrideWith(defaults).modelName(modelName(engine)).build();
    }

    static String modelName(Engine engine) {
        return engine.model().architecture();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        Conversation c = Conversation.of(engine, request, defaults.modelName());
        try {
            return c.response(engine.submit(c.request).join());
        } catch (ContextOverflowException e) {
            throw new InvalidRequestException(e.getMessage());
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    @Override
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    public Engine engine() {
        return engine;
    }
}
