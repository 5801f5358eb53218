package dev.panamax.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** PanamaxSpark.generate in local[2] (two task threads, one engine), against the engine run alone. */
class PanamaxSparkTest {
    static final int MAX_TOKENS = 12;

    static Path model;
    static SparkSession spark;

    @BeforeAll
    static void start() {
        model = TestSpark.model();
        spark = TestSpark.local();
    }

    static List<String> prompts(int n) {
        List<String> out = new ArrayList<>();
        String[] words = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "slept"};
        for (int i = 0; i < n; i++) {
            StringBuilder b = new StringBuilder();
            for (int w = 0; w <= (i * 7) % 23; w++) b.append(words[(i + w * 3) % words.length]).append(' ');
            out.add(b.toString().trim());
        }
        return out;
    }

    static Dataset<Row> promptFrame(List<String> prompts, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) rows.add(RowFactory.create((long) i, prompts.get(i)));
        StructType schema = new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.StringType);
        // cached: every action sees the same partitions (a round-robin repartition of other columns would not)
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(partitions).sortWithinPartitions("id").cache();
        df.count();
        return df;
    }

    static GenerationSpec spec() {
        return GenerationSpec.of(model.toString()).withMaxTokens(MAX_TOKENS).withParallel(4).withMaxInFlight(3);
    }

    @Test
    void greedyRowsAreTheEngineAloneInRowOrder() throws Exception {
        List<String> prompts = prompts(16);
        Dataset<Row> in = promptFrame(prompts, 4);
        List<Long> inOrder = in.select("id").as(Encoders.LONG()).collectAsList();
        List<Row> out = PanamaxSpark.generate(in, spec()).collectAsList();
        assertEquals(prompts.size(), out.size());
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(1))) {
            for (int i = 0; i < out.size(); i++) {
                Row r = out.get(i);
                assertEquals(inOrder.get(i), r.getLong(0), "rows come back in input order");
                String prompt = prompts.get((int) r.getLong(0));
                Generation alone;
                try (Session s = m.newSession()) {
                    alone = s.generate(prompt, MAX_TOKENS, SamplingParams.greedy(), null);
                }
                assertNull(r.getAs("error"));
                assertEquals(alone.text(), r.getAs("completion"), "row " + r.getLong(0) + ": " + prompt);
                assertEquals(RowGenerator.finishReason(alone.stop()), r.getAs("finish_reason"));
                assertEquals(alone.promptTokens().length, (int) r.getAs("prompt_tokens"));
                assertEquals(alone.tokens().length, (int) r.getAs("completion_tokens"));
                assertTrue((int) r.getAs("cached_tokens") >= 0);
            }
        }
    }

    @Test
    void badRowsGetAnErrorAndTheOthersComplete() {
        String tooLong = "the cat sat ".repeat(200); // beyond the 128-token context
        List<Row> rows = List.of(
                RowFactory.create(0L, "the cat sat".getBytes(StandardCharsets.UTF_8)),
                RowFactory.create(1L, tooLong.getBytes(StandardCharsets.UTF_8)),
                RowFactory.create(2L, new byte[] {'a', (byte) 0xC3, (byte) 0x28}), // not UTF-8
                RowFactory.create(3L, null),
                RowFactory.create(4L, "on a mat".getBytes(StandardCharsets.UTF_8)));
        StructType schema = new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.BinaryType);
        List<Row> out = PanamaxSpark.generate(spark.createDataFrame(rows, schema).coalesce(1), spec()).collectAsList();
        assertEquals(5, out.size());
        assertNull(out.get(0).getAs("error"));
        assertNotNull(out.get(0).getAs("completion"));
        assertTrue(out.get(1).<String>getAs("error").contains("context holds 128"), out.get(1).<String>getAs("error"));
        assertNull(out.get(1).getAs("completion"));
        assertTrue(out.get(2).<String>getAs("error").contains("not valid UTF-8"), out.get(2).<String>getAs("error"));
        assertTrue(out.get(3).<String>getAs("error").contains("null"), out.get(3).<String>getAs("error"));
        assertNull(out.get(4).getAs("error"));
        assertTrue((int) out.get(4).getAs("completion_tokens") > 0);
    }

    @Test
    void chatMessagesAreRenderedWithTheModelsTemplate() throws Exception {
        StructType msg = new StructType().add("role", DataTypes.StringType).add("content", DataTypes.StringType);
        StructType schema = new StructType().add("id", DataTypes.LongType).add("messages", DataTypes.createArrayType(msg));
        List<List<ChatMessage>> chats = List.of(List.of(ChatMessage.user("the cat sat")), List.of(),
                List.of(ChatMessage.system("be brief"), ChatMessage.user("on a mat")));
        List<Row> rows = List.of(
                RowFactory.create(0L, new Row[] {RowFactory.create("user", "the cat sat")}),
                RowFactory.create(1L, new Row[] {RowFactory.create("user", null)}),
                RowFactory.create(2L, new Row[] {RowFactory.create("system", "be brief"), RowFactory.create("user", "on a mat")}));
        List<Row> out = PanamaxSpark.generate(spark.createDataFrame(rows, schema), spec().withMessagesColumn("messages")).collectAsList();
        assertTrue(out.get(1).<String>getAs("error").contains("messages[0] has no content"), out.get(1).<String>getAs("error"));
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(1))) {
            ChatTemplate t = m.chatTemplate();
            for (int i : new int[] {0, 2}) {
                int[] ids = t.tokenize(t.render(chats.get(i), true), m.tokenizer());
                try (Session s = m.newSession()) {
                    Generation alone = s.generate(ids, MAX_TOKENS, SamplingParams.greedy(), null);
                    assertNull(out.get(i).getAs("error"));
                    assertEquals(alone.text(), out.get(i).getAs("completion"));
                    assertEquals(ids.length, (int) out.get(i).getAs("prompt_tokens"));
                }
            }
        }
    }

    @Test
    void aFailedTaskIsRetriedWithTheSameRows() {
        GenerationSpec sampled = spec().withSampling(0.9f, 40, 0.95f, 0f).withSeed(42);
        Dataset<Row> in = promptFrame(prompts(12), 3);
        List<Row> clean = PanamaxSpark.generate(in, sampled).collectAsList();
        // the second partition's first attempt dies after two of its rows (its requests are still in the engine)
        Dataset<Row> generated = PanamaxSpark.generate(in, sampled);
        Dataset<Row> flaky = generated.map((MapFunction<Row, Row>) r -> {
            TaskContext t = TaskContext.get();
            if (t.partitionId() == 1 && t.attemptNumber() == 0 && Injected.count.incrementAndGet() == 2) {
                throw new IllegalStateException("injected failure");
            }
            return r;
        }, Encoders.row(generated.schema()));
        Injected.count.set(0);
        List<Row> retried = flaky.collectAsList();
        assertTrue(Injected.count.get() >= 2, "the failure was injected");
        // cached_tokens may differ: the second job finds the first one's prompts in the engine's prefix cache
        assertEquals(withoutCached(clean), withoutCached(retried));
    }

    static List<List<Object>> withoutCached(List<Row> rows) {
        List<List<Object>> out = new ArrayList<>();
        for (Row r : rows) {
            List<Object> v = new ArrayList<>();
            for (int i = 0; i < r.size(); i++) if (!r.schema().fields()[i].name().equals("cached_tokens")) v.add(r.get(i));
            out.add(v);
        }
        return out;
    }

    static final class Injected {
        static final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
    }

    @Test
    void aMissingModelFailsAtOnceNamingPathAndHost() {
        Dataset<Row> in = promptFrame(prompts(2), 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PanamaxSpark.generate(in, GenerationSpec.of("/no/such/model.gguf")));
        assertTrue(e.getMessage().contains("/no/such/model.gguf"), e.getMessage());
        assertTrue(e.getMessage().contains("on host " + ExecutorEngines.host()), e.getMessage());
    }

    @Test
    void aModelAddedWithAddFileIsFoundByItsNameAndMappedOncePerExecutor() throws Exception {
        Path dir = java.nio.file.Files.createTempDirectory("panamax-addfile");
        Path added = dir.resolve("added-" + ProcessHandle.current().pid() + ".gguf");
        java.nio.file.Files.copy(model, added);
        try {
            spark.sparkContext().addFile(added.toString());
            String name = added.getFileName().toString();
            assertFalse(java.nio.file.Files.exists(Path.of(name)), "the bare name is no path here: only SparkFiles can resolve it");
            Dataset<Row> in = promptFrame(prompts(8), 4);
            GenerationSpec byName = GenerationSpec.of(name).withMaxTokens(MAX_TOKENS).withParallel(4).withMaxInFlight(3); // spec() by name
            List<Row> viaFiles = PanamaxSpark.generate(in, byName).collectAsList();
            Path fetched = Path.of(org.apache.spark.SparkFiles.get(name));
            assertTrue(fetched.startsWith(Path.of(org.apache.spark.SparkFiles.getRootDirectory())), fetched.toString());
            assertEquals(1, ExecutorEngines.loads(fetched), "the executor's copy is mapped once for its 4 tasks, never copied per task");
            assertEquals(withoutCached(PanamaxSpark.generate(in, spec()).collectAsList()), withoutCached(viaFiles));
        } finally {
            java.nio.file.Files.deleteIfExists(added);
            java.nio.file.Files.deleteIfExists(dir);
        }
    }

    @Test
    void everyLeaseIsReturned() {
        PanamaxSpark.generate(promptFrame(prompts(4), 2), spec()).collectAsList();
        ExecutorEngines.closeIdle();
        assertEquals(0, ExecutorEngines.openEngines(), "an engine still has users after its job");
    }
}
