package dev.panamax.springai;

import dev.panamax.Model;
import dev.panamax.embed.Pooling;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;

/**
 * Spring AI's {@code EmbeddingModel} on a Panamax model: {@link Model#embed(List, Pooling, boolean)} with the file's
 * pooling (or the one given), unit-length vectors, the request's texts together in the model's batched forward steps.
 * Request options (model name, dimensions) are not used: the file decides. The caller owns the model.
 */
public class PanamaxEmbeddingModel implements EmbeddingModel {
    private final Model model;
    private final Pooling pooling;

    public PanamaxEmbeddingModel(Model model) {
        this(model, null);
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
    }

    @Override
    public EmbeddingResponse call(EmbeddingRequest request) {
        List<String> texts = request.getInstructions();
        if (texts.isEmpty()) return new EmbeddingResponse(List.of());
        List<Embedding> out = new ArrayList<>(texts.size());
        int i = 0;
        for (dev.panamax.embed.Embedding e : model.embed(texts, pooling, true)) out.add(new Embedding(e.vector(), i++));
        return new EmbeddingResponse(out);
    }

    @Override
    public float[] embed(Document document) {
        return call(new EmbeddingRequest(List.of(getEmbeddingContent(document)), null)).getResult().getOutput();
    }

    @Override
    public int dimensions() {
        return model.embedder().width();
    }
}
