package dev.panamax.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import java.util.Objects;

/** LangChain4j's common parameters plus Panamax's: the sampling seed and min-p. */
public class PanamaxChatRequestParameters extends DefaultChatRequestParameters {
    private final Long seed;
    private final Double minP;
    private final Boolean ignoreEos;

    protected PanamaxChatRequestParameters(Builder builder) {
        super(builder);
        this.seed = builder.seed;
        this.minP = builder.minP;
        this.ignoreEos = builder.ignoreEos;
    }

    /** An end-of-generation token does not end the reply (llama-server's ignore_eos; benchmarks). */
    public Boolean ignoreEos() {
        return ignoreEos;
    }

    /** The draw's seed (null: a fresh one per request). */
    public Long seed() {
        return seed;
    }

    /** Drop tokens below min-p times the top probability (null: llama.cpp's default 0.05). */
    public Double minP() {
        return minP;
    }

    @Override
    public ChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PanamaxChatRequestParameters p && super.equals(o) && Objects.equals(seed, p.seed) && Objects.equals(minP, p.minP)
                && Objects.equals(ignoreEos, p.ignoreEos);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), seed, minP, ignoreEos);
    }

    @Override
    public String toString() {
        return super.toString() + " seed=" + seed + " minP=" + minP;
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private Long seed;
        private Double minP;
        private Boolean ignoreEos;

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof PanamaxChatRequestParameters p) {
                if (p.seed != null) seed = p.seed;
                if (p.minP != null) minP = p.minP;
                if (p.ignoreEos != null) ignoreEos = p.ignoreEos;
            }
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder minP(Double minP) {
            this.minP = minP;
            return this;
        }

        public Builder ignoreEos(Boolean on) {
            this.ignoreEos = on;
            return this;
        }

        @Override
        public PanamaxChatRequestParameters build() {
            return new PanamaxChatRequestParameters(this);
        }
    }
}
