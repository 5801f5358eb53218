package dev.panamax.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ML stage: its params make the same job as the plain API, in a Pipeline, saved and loaded. */
class PanamaxGeneratorTest {
    @TempDir
    Path dir;

    @Test
    void aPipelineStageSavedAndLoadedGeneratesTheSameRows() throws Exception {
        SparkSession spark = TestSpark.local();
        Path model = TestSpark.model();
        Dataset<Row> in = PanamaxSparkTest.promptFrame(PanamaxSparkTest.prompts(6), 2);
        PanamaxGenerator gen = new PanamaxGenerator().setModelPath(model.toString()).setPromptCol("prompt").setMaxTokens(8)
                .setTemperature(0.7).setTopK(20).setSeed(5).setParallel(4).setStop("zzz");
        GenerationSpec spec = gen.spec();
        assertEquals(GenerationSpec.of(model.toString()).withMaxTokens(8).withSampling(0.7f, 20, 1f, 0f).withSeed(5)
                .withParallel(4).withStop(List.of("zzz")), spec);
        List<Row> direct = PanamaxSpark.generate(in, spec).collectAsList();

        PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {gen}).fit(in);
        assertEquals(PanamaxSparkTest.withoutCached(direct), PanamaxSparkTest.withoutCached(fitted.transform(in).collectAsList()));
        assertEquals(PanamaxSpark.outputSchema(in.schema(), spec), fitted.transform(in).schema());

        String stagePath = dir.resolve("stage").toString();
        gen.save(stagePath);
        PanamaxGenerator loaded = PanamaxGenerator.load(stagePath);
        assertEquals(gen.uid(), loaded.uid());
        assertEquals(spec, loaded.spec());
        assertArrayEquals(new String[] {"zzz"}, loaded.getOrDefault(loaded.stop()));

        String pipelinePath = dir.resolve("pipeline").toString();
        fitted.save(pipelinePath);
        assertEquals(PanamaxSparkTest.withoutCached(direct),
                PanamaxSparkTest.withoutCached(PipelineModel.load(pipelinePath).transform(in).collectAsList()));
        spark.sparkContext(); // still running for the other tests
    }

    @Test
    void messagesColReplacesPromptCol() {
        PanamaxGenerator gen = new PanamaxGenerator().setModelPath("m.gguf").setMessagesCol("chat");
        assertEquals("chat", gen.spec().messagesColumn());
        assertEquals(null, gen.spec().promptColumn());
        assertThrows(IllegalArgumentException.class, () -> new PanamaxGenerator().spec(), "modelPath is required");
    }
}
