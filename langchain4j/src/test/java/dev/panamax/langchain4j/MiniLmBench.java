package dev.panamax.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.panamax.Model;
import dev.panamax.tools.QuantFileType;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * Not part of the suite (run it by name; scripts/bench-embeddings.sh): all-MiniLM-L6-v2 embeddings per second through
 * LangChain4j's {@code EmbeddingModel} interface, Panamax's provider on the converted file against LangChain4j's own
 * {@link AllMiniLmL6V2EmbeddingModel} (ONNX Runtime, its defaults: one task per text on its executor, ONNX Runtime's
 * intra-op threads), at batch 1 (one text per call) and batch 64 (64 texts per embedAll), alternated in one JVM, best
 * of the repetitions. Properties: panamax.bench.threads (2), .type (f32 | f16 | bf16 | q8_0), .texts (256), .reps (3).
 */
class MiniLmBench {
    @Test
    void panamaxVersusOnnxRuntime() throws Exception {
        int threads = Integer.getInteger("panamax.bench.threads", 2);
        int count = Integer.getInteger("panamax.bench.texts", 256);
        int reps = Integer.getInteger("panamax.bench.reps", 3);
        QuantFileType type = QuantFileType.parse(System.getProperty("panamax.bench.type", "f32"));
        List<TextSegment> texts = new ArrayList<>();
        long tokens = 0;
        try (Model model = Model.load(MiniLm.gguf(type), Model.Options.defaults().withThreads(threads))) {
            for (String s : MiniLm.sentences(4 * count, 77)) {
                int n = model.embedder().tokenize(s).length;
                if (n > 128 || MiniLmRealWeightsTest.llamaCppDeparts(s)) continue;
                texts.add(TextSegment.from(s));
                tokens += n;
                if (texts.size() == count) break;
            }
            assertEquals(count, texts.size());
            EmbeddingModel ours = new PanamaxEmbeddingModel(model);
            // Panamax alone first, before ONNX Runtime's threads exist in the process
            List<TextSegment> one = texts.subList(0, Math.min(count, 64));
            run(ours, one, 1);
            double alone1 = Math.max(run(ours, one, 1), run(ours, one, 1)), alone64 = Math.max(run(ours, texts, 64), run(ours, texts, 64));
            System.out.printf(Locale.ROOT, "before ONNX Runtime is loaded: panamax batch 1 %.1f embeddings/s, batch 64 %.1f embeddings/s%n", alone1, alone64);
            EmbeddingModel onnx = new AllMiniLmL6V2EmbeddingModel();
            System.out.printf(Locale.ROOT, "model all-MiniLM-L6-v2 %s, %d texts of %.1f tokens on average (with [CLS] [SEP]), panamax %d threads (%s), "
                    + "ONNX Runtime with LangChain4j's defaults, %d cores%n", type.name().toLowerCase(Locale.ROOT), count, (double) tokens / count,
                    threads, model.embedder().kernelsName(), Runtime.getRuntime().availableProcessors());
            for (int batch : new int[] {1, 64}) {
                run(ours, texts.subList(0, Math.min(count, 32)), batch);
                run(onnx, texts.subList(0, Math.min(count, 32)), batch); // warm-up
                double bestOurs = 0, bestOnnx = 0;
                List<TextSegment> set = batch == 1 ? texts.subList(0, Math.min(count, 128)) : texts;
                for (int r = 0; r < reps; r++) {
                    bestOurs = Math.max(bestOurs, run(ours, set, batch));
                    bestOnnx = Math.max(bestOnnx, run(onnx, set, batch));
                }
                System.out.printf(Locale.ROOT, "batch %2d: panamax %.1f embeddings/s, ONNX Runtime %.1f embeddings/s, ratio %.2fx%n", batch,
                        bestOurs, bestOnnx, bestOurs / bestOnnx);
            }
        }
    }

    private static double run(EmbeddingModel m, List<TextSegment> texts, int batch) {
        long t0 = System.nanoTime();
        for (int i = 0; i < texts.size(); i += batch) {
            List<TextSegment> part = texts.subList(i, Math.min(texts.size(), i + batch));
            if (batch == 1) m.embed(part.get(0));
            else m.embedAll(part);
        }
        return texts.size() / ((System.nanoTime() - t0) / 1e9);
    }
}
