package dev.panamax.spark;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./panamax run-batch}: an OpenAI Batch API input file through Spark, as {@code vllm run-batch} does. The driver
 * reads the input, Spark spreads its lines over the executors ({@link BatchRequests}), and the driver writes one
 * result line per input line, in input order.
 */
@Command(name = "run-batch", mixinStandardHelpOptions = true,
        description = "Run an OpenAI Batch API file (JSON lines: custom_id, method, url = /v1/chat/completions or "
                + "/v1/completions, body) on Spark; writes one result line per request (custom_id, response {status_code, "
                + "body} or error).")
public final class RunBatch implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file (at this path on every executor).")
    Path model;

    @Option(names = {"-i", "--input"}, required = true, description = "Input file, one request per line.")
    Path input;

    @Option(names = {"-o", "--output"}, required = true, description = "Output file, one result per line.")
    Path output;

    @Option(names = "--master", defaultValue = "local[*]",
            description = "Spark master: local[N], local-cluster[W,C,MB] or spark://HOST:PORT (default: ${DEFAULT-VALUE}).")
    String master;

    @Option(names = {"-np", "--parallel"}, defaultValue = "16", description = "Sequences each executor's engine decodes together (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--threads", defaultValue = "0", description = "Kernel threads per executor (default: the executor's cores).")
    int threads;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "0", description = "Positions per sequence (default: min(context_length, 4096)).")
    int ctx;

    @Option(names = "--partitions", defaultValue = "0", description = "Spark partitions (default: 2 per executor core).")
    int partitions;

    @Option(names = "--alias", description = "The model's name in responses (default: the file name without .gguf).")
    String alias;

    public static void main(String[] args) {
        System.exit(new CommandLine(new RunBatch()).execute(args));
    }

    @Override
    public Integer call() throws IOException {
        List<String> lines = Files.readAllLines(input, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
        String id = alias != null ? alias : model.getFileName().toString().replaceFirst("\\.gguf$", "");
        GenerationSpec spec = GenerationSpec.of(model.toAbsolutePath().toString()).withParallel(parallel).withThreads(threads)
                .withContextLength(ctx);
        boolean ours = SparkSession.getDefaultSession().isEmpty(); // else the caller's session: not stopped here
        SparkSession spark = session();
        try {
            if (master.startsWith("local")) ExecutorEngines.resolve(spec.modelPath()); // fail before any task
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            int n = partitions > 0 ? partitions : 2 * jsc.defaultParallelism();
            JavaRDD<String> results = jsc.parallelize(lines, Math.max(1, Math.min(n, lines.size())))
                    .mapPartitions(new BatchRequests(spec, id));
            Progress progress = new Progress(lines.size(), System.console() != null ? System.err : null);
            Path tmp = output.resolveSibling(output.getFileName() + ".tmp");
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                for (Iterator<String> it = results.toLocalIterator(); it.hasNext(); ) {
                    w.write(it.next());
                    w.newLine();
                    progress.step();
                }
            }
            Files.move(tmp, output, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            progress.done();
        } finally {
            if (ours) spark.stop();
            ExecutorEngines.closeIdle();
        }
        return 0;
    }

    private SparkSession session() {
        SparkSession.Builder b = SparkSession.builder().master(master).appName("panamax run-batch")
                .config("spark.ui.showConsoleProgress", "false");
        if (master.startsWith("local")) b.config("spark.ui.enabled", "false"); // a local job: nobody to show it to
        if (!master.startsWith("local[") && !master.equals("local")) {
            // executor JVMs: the flags this JVM runs with, and this application's jar
            b.config("spark.executor.extraJavaOptions", PanamaxSpark.executorJavaOptions());
            java.security.CodeSource src = RunBatch.class.getProtectionDomain().getCodeSource();
            if (src != null && src.getLocation().getPath().endsWith(".jar")) b.config("spark.jars", src.getLocation().getPath());
        }
        SparkSession s = b.getOrCreate();
        s.sparkContext().setLogLevel("WARN");
        return s;
    }

    /** A progress bar on a terminal (stderr), nothing otherwise. */
    private static final class Progress {
        final int total;
        final PrintStream out;
        final long t0 = System.nanoTime();
        int done;

        Progress(int total, PrintStream out) {
            this.total = total;
            this.out = out;
        }

        void step() {
            done++;
            if (out == null) return;
            int width = 40, filled = total == 0 ? width : (int) ((long) done * width / total);
            double s = (System.nanoTime() - t0) / 1e9;
            out.printf("\r[%s%s] %d/%d requests, %.1f/s ", "#".repeat(filled), ".".repeat(width - filled), done, total, done / Math.max(s, 1e-9));
        }

        void done() {
            if (out != null) out.println();
        }
    }
}
