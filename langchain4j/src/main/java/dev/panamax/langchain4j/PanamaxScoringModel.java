package dev.panamax.langchain4j;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.scoring.ScoringModel;
import dev.panamax.Model;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * LangChain4j's {@code ScoringModel} (reranking) on a Panamax reranker, a model with rank pooling and a classification
 * head: {@link Model#rerank}, scores as the model gives them (not normalized, as llama.cpp), higher is more relevant.
 * The caller owns the model.
 */
public class PanamaxScoringModel implements ScoringModel {
    private final Model model;

    /** @throws IllegalArgumentException when the model has no classification head */
    public PanamaxScoringModel(Model model) {
        this.model = Objects.requireNonNull(model, "model");
        if (!model.embedder().hasClassifier()) {
            throw new IllegalArgumentException(model.architecture() + " model has no classification head: not a reranker");
        }
    }

    @Override
    public Response<List<Double>> scoreAll(List<TextSegment> segments, String query) {
        Objects.requireNonNull(query, "query");
        if (segments.isEmpty()) return Response.from(List.of());
        List<String> docs = new ArrayList<>(segments.size());
        for (TextSegment s : segments) docs.add(s.text());
        float[] s = model.rerank(query, docs);
        List<Double> out = new ArrayList<>(s.length);
        for (float v : s) out.add((double) v);
        return Response.from(out);
    }
}
