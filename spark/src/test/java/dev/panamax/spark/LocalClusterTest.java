package dev.panamax.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * local-cluster[2,1,1024]: a standalone master and two workers in this JVM, each starting an executor JVM from
 * SPARK_HOME/jars (set by the pom: target/spark-home; filled here with links to the test class path, directories
 * jarred). One executor JVM is killed mid-job: Spark replaces it and every row still comes back, each the engine's
 * greedy completion run alone.
 */
class LocalClusterTest {

    @Test
    void anExecutorKilledMidJobIsReplacedAndEveryRowComesBack() throws Exception {
        String home = System.getenv("SPARK_HOME");
        assertTrue(home != null && "2.13".equals(System.getenv("SPARK_SCALA_VERSION")),
                "SPARK_HOME and SPARK_SCALA_VERSION=2.13 must be set (the spark module's surefire configuration sets them)");
        sparkHome(Path.of(home));
        Path model = TestSpark.model();
        TestSpark.stop(); // one SparkContext per JVM
        SparkSession spark = SparkSession.builder().master("local-cluster[2,1,1024]").appName("panamax-local-cluster-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.executor.extraJavaOptions", PanamaxSpark.executorJavaOptions() + " -Dpanamax.spark.idleMillis=60000")
                .config("spark.task.maxFailures", "4")
                .getOrCreate();
        try {
            spark.sparkContext().setLogLevel("WARN");
            String appId = spark.sparkContext().applicationId();
            List<String> prompts = PanamaxSparkTest.prompts(24);
            List<Row> rows = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) rows.add(RowFactory.create((long) i, prompts.get(i)));
            StructType schema = new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.StringType);
            Dataset<Row> in = spark.createDataFrame(rows, schema).repartition(8).sortWithinPartitions("id");
            GenerationSpec spec = GenerationSpec.of(model.toString()).withMaxTokens(24).withParallel(4).withMaxInFlight(3);

            // kill one executor JVM as soon as the job has finished two tasks (the others are running or waiting)
            AtomicInteger finished = new AtomicInteger();
            AtomicBoolean killed = new AtomicBoolean();
            spark.sparkContext().addSparkListener(new SparkListener() {
                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    if (finished.incrementAndGet() == 2) killed.set(killOneExecutor(appId));
                }
            });
            List<Row> out = PanamaxSpark.generate(in, spec).collectAsList();
            assertTrue(killed.get(), "an executor JVM of " + appId + " was found and killed");
            assertEquals(prompts.size(), out.size());
            try (Model m = Model.load(model, Model.Options.defaults().withThreads(1))) {
                for (Row r : out) {
                    String prompt = prompts.get((int) r.getLong(0));
                    try (Session s = m.newSession()) {
                        Generation alone = s.generate(prompt, 24, SamplingParams.greedy(), null);
                        assertNull(r.getAs("error"));
                        assertEquals(alone.text(), r.getAs("completion"), prompt);
                    }
                }
            }
        } finally {
            spark.stop();
        }
    }

    private static boolean killOneExecutor(String appId) {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains(appId)).orElse(false))
                .findFirst().map(ProcessHandle::destroyForcibly).orElse(false);
    }

    /** SPARK_HOME/jars: links to the jars of this test's class path; its class directories as jars. */
    static void sparkHome(Path home) throws IOException {
        Path jars = home.resolve("jars");
        if (Files.isDirectory(jars)) {
            try (Stream<Path> old = Files.list(jars)) {
                for (Path p : old.toList()) Files.delete(p);
            }
        }
        Files.createDirectories(jars);
        if (!Files.exists(home.resolve("RELEASE"))) Files.createFile(home.resolve("RELEASE")); // a binary layout: jars/
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        int n = 0;
        for (String e : cp.split(java.io.File.pathSeparator)) {
            Path p = Path.of(e);
            if (Files.isRegularFile(p) && e.endsWith(".jar")) {
                Path link = jars.resolve(p.getFileName());
                if (!Files.exists(link)) Files.createSymbolicLink(link, p.toAbsolutePath());
            } else if (Files.isDirectory(p)) {
                jar(p, jars.resolve("classes-" + (n++) + ".jar"));
            }
        }
    }

    private static void jar(Path dir, Path out) throws IOException {
        try (OutputStream o = Files.newOutputStream(out); JarOutputStream j = new JarOutputStream(o); Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                j.putNextEntry(new JarEntry(dir.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, j);
                j.closeEntry();
            }
        }
    }
}
