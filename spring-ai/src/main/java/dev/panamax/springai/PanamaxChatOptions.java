package dev.panamax.springai;

import dev.panamax.ChatCall;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.DefaultToolCallingChatOptions;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;

/**
 * Spring AI's chat options (sampling, tools) plus Panamax's: the seed, min-p, the tool choice, and an output JSON Schema
 * (native structured output: decoding is constrained to it).
 */
public class PanamaxChatOptions extends DefaultToolCallingChatOptions implements StructuredOutputChatOptions {
    private final Long seed;
    private final Double minP;
    private final ChatCall.ToolChoice toolChoice;
    private final String outputSchema;

    protected PanamaxChatOptions(List<ToolCallback> toolCallbacks, Map<String, Object> toolContext, String model,
                                 Double frequencyPenalty, Integer maxTokens, Double presencePenalty, List<String> stopSequences,
                                 Double temperature, Integer topK, Double topP, Long seed, Double minP,
                                 ChatCall.ToolChoice toolChoice, String outputSchema) {
        super(toolCallbacks, toolContext, model, frequencyPenalty, maxTokens, presencePenalty, stopSequences, temperature, topK, topP);
        this.seed = seed;
        this.minP = minP;
        this.toolChoice = toolChoice;
        this.outputSchema = outputSchema;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The draw's seed (null: a fresh one per request). */
    public Long getSeed() {
        return seed;
    }

    public Double getMinP() {
        return minP;
    }

    /** Whether the reply may, must or must not call a tool (null: may). */
    public ChatCall.ToolChoice getToolChoice() {
        return toolChoice;
    }

    @Override
    public String getOutputSchema() {
        return outputSchema;
    }

    @Override
    public Builder mutate() {
        Builder b = new Builder();
        b.model(getModel()).frequencyPenalty(getFrequencyPenalty()).maxTokens(getMaxTokens()).presencePenalty(getPresencePenalty())
                .stopSequences(getStopSequences()).temperature(getTemperature()).topK(getTopK()).topP(getTopP());
        if (getToolCallbacks() != null) b.toolCallbacks(getToolCallbacks());
        if (getToolContext() != null) b.toolContext(getToolContext());
        b.seed = seed;
        b.minP = minP;
        b.toolChoice = toolChoice;
        b.outputSchema = outputSchema;
        return b;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PanamaxChatOptions p && super.equals(o) && Objects.equals(seed, p.seed) && Objects.equals(minP, p.minP)
                && toolChoice == p.toolChoice && Objects.equals(outputSchema, p.outputSchema);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), seed, minP, toolChoice, outputSchema);
    }

    public static class Builder extends DefaultToolCallingChatOptions.Builder<Builder> implements StructuredOutputChatOptions.Builder<Builder> {
        private Long seed;
        private Double minP;
        private ChatCall.ToolChoice toolChoice;
        private String outputSchema;

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder minP(Double minP) {
            this.minP = minP;
            return this;
        }

        public Builder toolChoice(ChatCall.ToolChoice choice) {
            this.toolChoice = choice;
            return this;
        }

        @Override
        public Builder outputSchema(String schema) {
            this.outputSchema = schema;
            return this;
        }

        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder o) {
                if (o.seed != null) seed = o.seed;
                if (o.minP != null) minP = o.minP;
                if (o.toolChoice != null) toolChoice = o.toolChoice;
                if (o.outputSchema != null) outputSchema = o.outputSchema;
            }
            return this;
        }

        @Override
        public Builder clone() {
            Builder b = super.clone();
            b.seed = seed;
            b.minP = minP;
            b.toolChoice = toolChoice;
            b.outputSchema = outputSchema;
            return b;
        }

        @Override
        public PanamaxChatOptions build() {
            return new PanamaxChatOptions(toolCallbacks, toolContext, model, frequencyPenalty, maxTokens, presencePenalty,
                    stopSequences, temperature, topK, topP, seed, minP, toolChoice, outputSchema);
        }
    }
}
