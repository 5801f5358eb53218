// The AutoGGUFModel way of running a batch (Spark NLP: llama.cpp over JNI, one model per JVM, each partition's rows
// cut into groups of batchSize, one blocking batch call per group), emulated with java-llama.cpp (de.kherud:llama):
// each group of GROUP rows is sent together to a model with GROUP parallel slots and the next group starts when the
// whole group is done. Not a test: run by scripts/bench-spark.sh.
//   java -cp llama-4.2.0.jar AutoGgufBaseline.java MODEL PROMPTS.txt N_GEN THREADS GROUP
import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.ModelParameters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

public class AutoGgufBaseline {
    public static void main(String[] a) throws Exception {
        String model = a[0];
        List<String> prompts = Files.readAllLines(Path.of(a[1]));
        int nGen = Integer.parseInt(a[2]), threads = Integer.parseInt(a[3]), group = Integer.parseInt(a[4]);
        ModelParameters mp = new ModelParameters().setModel(model).setThreads(threads).setParallel(group)
                .setCtxSize(group * 1024);
        try (LlamaModel llama = new LlamaModel(mp); ExecutorService pool = Executors.newFixedThreadPool(group)) {
            double[] latency = new double[prompts.size()];
            long generated = 0;
            long t0 = System.nanoTime();
            for (int g = 0; g < prompts.size(); g += group) {
                List<CompletableFuture<Integer>> batch = new ArrayList<>();
                                for (int i = g; i < Math.min(g + group, prompts.size()); i++) {
                    String p = prompts.get(i);
                                        batch.add(CompletableFuture.supplyAsync(() -> {
                        InferenceParameters ip = new InferenceParameters(p).setNPredict(nGen).setTemperature(0f).setIgnoreEos(true);
                        int n = 0;
                        for (var out : llama.generate(ip)) n++;
                        return n;
                    }, pool));
                }
                for (CompletableFuture<Integer> f : batch) generated += f.join(); // the group's blocking call
                System.err.printf("group %d/%d done at %.1f s%n", g / group + 1, (prompts.size() + group - 1) / group,
                        (System.nanoTime() - t0) / 1e9);
                long groupEnd = System.nanoTime();
                // a row is back when its group's call returns: its completion time counts from the job's start
                for (int i = g; i < Math.min(g + group, prompts.size()); i++) latency[i] = (groupEnd - t0) / 1e6;
            }
            double s = (System.nanoTime() - t0) / 1e9;
            Arrays.sort(latency);
            System.out.printf("{\"rows\":%d,\"seconds\":%.2f,\"gen_tokens\":%d,\"agg_tg_tps\":%.2f,\"rows_per_s\":%.3f,"
                            + "\"row_done_ms_p50\":%.1f,\"row_done_ms_p99\":%.1f}%n", prompts.size(), s, generated,
                    generated / s, prompts.size() / s, latency[latency.length / 2], latency[(int) (latency.length * 0.99)]);
            System.out.flush();
        }
        System.exit(0); // java-llama.cpp's native threads have kept the JVM alive after the model was closed
    }
}
