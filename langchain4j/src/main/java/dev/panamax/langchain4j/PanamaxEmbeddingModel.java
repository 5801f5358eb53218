package dev.panamax.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.embed.Pooling;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * LangChain4j's {@code EmbeddingModel} on a Panamax model: {@link Model#embed(List, Pooling, boolean)} with the file's
 * pooling (or the one given), vectors at unit length, all segments of a call in the model's batched forward steps.
 * Token usage counts the tokens the model read. The caller owns the model.
 */
public class PanamaxEmbeddingModel implements EmbeddingModel {
    private final Model model;
    private final Pooling pooling;
    private final String name;

    /** The file's pooling (mean, cls or last). */
    public PanamaxEmbeddingModel(Model model) {
        this(model, null);
    }

    /** The model of an engine (embeddings run on the model's embedder, beside the engine's scheduler). */
    public PanamaxEmbeddingModel(Engine engine) {
        this(engine.model(), null);
    }

    /**
     * @param pooling null for the file's
     * @throws IllegalArgumentException when the pooling gives no single vector per text (none, rank)
     */
    public PanamaxEmbeddingModel(Model model, Pooling pooling) {
        this.model = Objects.requireNonNull(model, "model");
        this.pooling = pooling == null ? model.pooling() : pooling;
        if (this.pooling == Pooling.NONE || this.pooling == Pooling.RANK) {
            throw new IllegalArgumentException("pooling " + this.pooling + " gives no single vector per text: pass mean, cls or last");
        }
        this.name = model.architecture();
    }

    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        List<String> texts = new ArrayList<>(segments.size());
        for (TextSegment s : segments) texts.add(s.text());
        if (texts.isEmpty()) return Response.from(List.of(), new TokenUsage(0));
        List<Embedding> out = new ArrayList<>(texts.size());
        int tokens = 0;
        for (dev.panamax.embed.Embedding e : model.embed(texts, pooling, true)) {
            out.add(Embedding.from(e.vector()));
            tokens += e.tokens().length;
        }
        return Response.from(out, new TokenUsage(tokens));
    }

    @Override
    public int dimension() {
        return model.embedder().width();
    }

    @Override
    public String modelName() {
        return name;
    }
}
