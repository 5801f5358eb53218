package dev.panamax.langchain4j;

import static org.junit.jupiter.api.Assertions.*;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.panamax.Model;
import dev.panamax.embed.Pooling;
import dev.panamax.model.TinyBert;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The LangChain4j embedding, scoring and token-count providers on the tiny random bert fixtures: the vectors are the
 * model's own ({@link Model#embed}), the scores its reranker's in the same order, token counts its tokenizer's.
 */
class PanamaxEmbeddingProvidersTest {
    @TempDir
    static Path dir;

    static final List<String> TEXTS = List.of("hello world", "the cat sat on the mat", "what is the capital of france?", "dog");

    static Model bert(int pooling) throws Exception {
        return Model.load(TinyBert.write(dir, pooling, 11), Model.Options.defaults().withThreads(2));
    }

    @Test
    void embeddingsAreTheModelsVectors() throws Exception {
        try (Model m = bert(1)) {
            var provider = new PanamaxEmbeddingModel(m);
            assertEquals(TinyBert.DIM, provider.dimension());
            Response<List<Embedding>> r = provider.embedAll(TEXTS.stream().map(TextSegment::from).toList());
            List<float[]> expected = m.embed(TEXTS);
            assertEquals(TEXTS.size(), r.content().size());
            int tokens = 0;
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(expected.get(i), r.content().get(i).vector(), 1e-6f, TEXTS.get(i));
                tokens += m.embedder().tokenize(TEXTS.get(i)).length;
            }
            assertEquals(tokens, r.tokenUsage().inputTokenCount(), "tokens the model read, [CLS] and [SEP] included");
            assertArrayEquals(expected.get(1), provider.embed("the cat sat on the mat").content().vector(), 1e-6f, "one text alone");
            assertNotEquals(expected.get(0)[0], expected.get(1)[0]);
            // another pooling than the file's
            float[] cls = m.embed(List.of("dog"), Pooling.CLS, true).get(0).vector();
            assertArrayEquals(cls, new PanamaxEmbeddingModel(m, Pooling.CLS).embed("dog").content().vector(), 1e-6f);
            assertThrows(IllegalArgumentException.class, () -> new PanamaxEmbeddingModel(m, Pooling.NONE));
            assertTrue(provider.embedAll(List.of()).content().isEmpty());
        }
    }

    @Test
    void scoresAreTheRerankersInItsOrder() throws Exception {
        try (Model m = bert(4)) {
            List<String> docs = List.of("paris", "the cat sat on the mat", "dog", "capital of france");
            String q = "what is the capital of france?";
            float[] expected = m.rerank(q, docs);
            var scoring = new PanamaxScoringModel(m);
            List<Double> got = scoring.scoreAll(docs.stream().map(TextSegment::from).toList(), q).content();
            assertEquals(docs.size(), got.size());
            for (int i = 0; i < docs.size(); i++) assertEquals(expected[i], got.get(i), 2e-3 * Math.abs(expected[i]), docs.get(i));
            List<Integer> byModel = IntStream.range(0, docs.size()).boxed().sorted(Comparator.comparingDouble(i -> -expected[i])).toList();
            List<Integer> byProvider = IntStream.range(0, docs.size()).boxed().sorted(Comparator.comparingDouble(i -> -got.get(i))).toList();
            assertEquals(byModel, byProvider, "same ranking");
            assertEquals(expected[2], scoring.score("dog", q).content(), 2e-3 * Math.abs(expected[2]), "one document alone");
            assertThrows(IllegalArgumentException.class, () -> new PanamaxEmbeddingModel(m), "a reranker has no single vector");
        }
        try (Model m = bert(1)) {
            assertThrows(IllegalArgumentException.class, () -> new PanamaxScoringModel(m), "no classification head");
        }
    }

    @Test
    void tokenCountsAreTheTokenizers() throws Exception {
        try (Model m = bert(1)) {
            var est = new PanamaxTokenCountEstimator(m);
            for (String t : TEXTS) assertEquals(m.tokenizer().encode(t, false, false).length, est.estimateTokenCountInText(t), t);
            assertEquals(4, est.estimateTokenCountInText("hello world playing"), "hello world play ##ing");
        }
    }
}
