package dev.panamax.springai;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ChatCall;
import dev.panamax.Engine;
import dev.panamax.model.TinyModels;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.annotation.Tool;
import org.springframework.ai.tool.annotation.ToolParam;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The Boot auto-configuration on a tiny random model ({@code panamax.model} pointing at it), used through {@code
 * ChatClient}: call, stream, entity mapping to a record (native structured output: the schema becomes a grammar), a
 * Java tool the model is made to call; the health indicator and the meters in the application's registry.
 */
@SpringBootTest(classes = PanamaxSpringAiTest.App.class, properties = {"panamax.threads=1", "panamax.context=2048", "panamax.parallel=4",
        "management.health.defaults.enabled=true"})
class PanamaxSpringAiTest {
    static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("panamax-spring");
            DIR.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @SpringBootApplication
    static class App {}

    @DynamicPropertySource
    static void model(DynamicPropertyRegistry r) throws IOException {
        Path m = TinyModels.writeNeverEnding(DIR, 2048);
        r.add("panamax.model", m::toString);
        Path bert = dev.panamax.model.TinyBert.write(DIR, 1, 11);
        r.add("panamax.embedding-model", bert::toString);
    }

    @Autowired
    PanamaxChatModel model;
    @Autowired
    Engine engine;
    @Autowired
    MeterRegistry registry;
    @Autowired
    HealthIndicator panamaxHealthIndicator;
    @Autowired
    org.springframework.ai.embedding.EmbeddingModel embeddings;

    record Verdict(boolean positive, int score) {}

    enum City { PARIS, OSLO }

    static final class Weather {
        final List<City> calls = new CopyOnWriteArrayList<>();

        @Tool(description = "The weather in a city")
        String weather(@ToolParam(description = "the city") City city) {
            calls.add(city);
            return "sunny in " + city;
        }
    }

    /** A call can only be forced per request: required when the user spoke last, free (and short) after the tool's result. */
    static final class ForceFirstCall implements ChatModel {
        final PanamaxChatModel inner;
        final List<Prompt> seen = new CopyOnWriteArrayList<>();

        ForceFirstCall(PanamaxChatModel inner) {
            this.inner = inner;
        }

        @Override
        public ChatResponse call(Prompt prompt) {
            seen.add(prompt);
            boolean userLast = prompt.getInstructions().getLast() instanceof UserMessage;
            PanamaxChatOptions.Builder o = ((PanamaxChatOptions) inner.getOptions()).mutate();
            o.combineWith(prompt.getOptions().mutate());
            o.toolCallbacks(((org.springframework.ai.model.tool.ToolCallingChatOptions) prompt.getOptions()).getToolCallbacks());
            o.temperature(0.0).toolChoice(userLast ? ChatCall.ToolChoice.REQUIRED : ChatCall.ToolChoice.AUTO).maxTokens(userLast ? null : 8);
            return inner.call(prompt.mutate().chatOptions(o.build()).build());
        }

        @Override
        public ChatOptions getOptions() {
            return inner.getOptions();
        }
    }

    @Test
    void chatClientCallsStreamsMapsAndUsesTools() {
        ChatClient client = ChatClient.create(model);
        var opts = PanamaxChatOptions.builder().temperature(0.0).maxTokens(16).build();
        String called = client.prompt().user("Hello").options(opts.mutate()).call().content();
        assertNotNull(called);
        List<String> pieces = client.prompt().user("Hello").options(opts.mutate()).stream().content().collectList().block();
        assertTrue(pieces.size() > 3, "streamed in pieces: " + pieces);
        assertEquals(called, String.join("", pieces), "the stream is the blocking reply");

        Verdict v = client.prompt().user("Is this good?").options(PanamaxChatOptions.builder().temperature(0.0))
                .advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT).call().entity(Verdict.class);
        assertNotNull(v);

        Weather tool = new Weather();
        ForceFirstCall forcing = new ForceFirstCall(model);
        String answer = ChatClient.create(forcing).prompt().user("Weather in Paris?").tools(tool).call().content();
        assertEquals(1, tool.calls.size(), "the Java tool ran once: " + tool.calls);
        assertEquals(2, forcing.seen.size());
        var last = forcing.seen.get(1).getInstructions().getLast();
        assertInstanceOf(org.springframework.ai.chat.messages.ToolResponseMessage.class, last);
        assertEquals("\"sunny in " + tool.calls.get(0) + "\"",
                ((org.springframework.ai.chat.messages.ToolResponseMessage) last).getResponses().get(0).responseData(), "the result goes back to the model");
        assertNotNull(answer);

        assertEquals(Status.UP, panamaxHealthIndicator.health().getStatus());
        assertTrue(registry.get("panamax.generation.tokens").counter().count() >= 32, "meters in the application's registry");
        // a reply is complete once its last token is out; the engine ends the sequence in the same step, just after
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (registry.get("panamax.requests.running").gauge().value() != 0 && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(0, registry.get("panamax.requests.running").gauge().value());
    }

    @Test
    void embeddingModelIsTheEncodersVectors() throws Exception {
        List<String> texts = List.of("hello world", "the cat sat on the mat", "dog");
        List<float[]> got = embeddings.embed(texts);
        // the same fixture written again elsewhere (never over the file the context has mapped)
        try (dev.panamax.Model bert = dev.panamax.Model.load(dev.panamax.model.TinyBert.write(Files.createTempDirectory(DIR, "again"), 1, 11))) {
            List<float[]> expected = bert.embed(texts);
            assertEquals(expected.size(), got.size());
            for (int i = 0; i < texts.size(); i++) assertArrayEquals(expected.get(i), got.get(i), 1e-5f, texts.get(i));
        }
        assertEquals(dev.panamax.model.TinyBert.DIM, embeddings.dimensions());
        assertArrayEquals(got.get(2), embeddings.embed(new org.springframework.ai.document.Document("dog")), 1e-6f);
        assertInstanceOf(PanamaxEmbeddingModel.class, embeddings);
        assertFalse(engine.model().isEncoder(), "the chat model kept its own file");
    }
}
