package dev.panamax.spark;

import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;

/**
 * Fixtures shared by the test classes of this JVM (starting Spark costs seconds): one local[2,2] session (two task
 * threads; a failed task is retried once) and the tiny model (TinyModels' llama, F32, 128-token context, TinyLlama's
 * chat template).
 */
final class TestSpark {
    private static SparkSession spark;
    private static Path model, neverEnding;

    private TestSpark() {}

    /** Stops the shared session (a test that needs its own SparkContext); the next {@link #local()} starts another. */
    static synchronized void stop() {
        if (spark != null) spark.stop();
        spark = null;
        ExecutorEngines.closeIdle();
    }

    static synchronized SparkSession local() {
        if (spark == null || spark.sparkContext().isStopped()) {
            spark = SparkSession.builder().master("local[2,2]").appName("panamax-spark-test")
                    .config("spark.ui.enabled", "false")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.sql.shuffle.partitions", "4")
                    .getOrCreate();
            spark.sparkContext().setLogLevel("WARN");
        }
        return spark;
    }

    /** {@link TinyModels#writeNeverEnding}: a 1024-token context, EOS only when a grammar leaves nothing else. */
    static synchronized Path neverEnding() {
        if (neverEnding == null) {
            try {
                Path dir = Files.createTempDirectory("panamax-spark-test");
                dir.toFile().deleteOnExit();
                neverEnding = TinyModels.writeNeverEnding(dir, 1024);
                neverEnding.toFile().deleteOnExit();
                try (var files = Files.list(dir)) { // the fixture it was made from
                    for (Path f : files.toList()) if (!f.equals(neverEnding)) Files.delete(f);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return neverEnding;
    }

    static synchronized Path model() {
        if (model == null) {
            try {
                Path dir = Files.createTempDirectory("panamax-spark-test");
                dir.toFile().deleteOnExit();
                model = TinyModels.write(dir, "llama", GgmlType.F32, false, 7, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE);
                model.toFile().deleteOnExit();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }
}
