// Panamax on Spark for scripts/bench-spark.sh (not a test): the prompts of PROMPTS.txt as a DataFrame through
// PanamaxSpark.generate on MASTER, timed from the action's start; prints one JSON line.
//   java <spark flags> -cp <panamax-spark class path> BenchSpark.java MODEL PROMPTS.txt N_GEN MASTER PARTITIONS PARALLEL
import dev.panamax.spark.GenerationSpec;
import dev.panamax.spark.PanamaxSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

public class BenchSpark {
    public static void main(String[] a) throws Exception {
        String model = a[0];
        List<String> prompts = Files.readAllLines(Path.of(a[1]));
        int nGen = Integer.parseInt(a[2]), partitions = Integer.parseInt(a[4]), parallel = Integer.parseInt(a[5]);
        SparkSession spark = SparkSession.builder().master(a[3]).appName("bench-spark").config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) rows.add(RowFactory.create((long) i, prompts.get(i)));
        StructType schema = new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.StringType);
        Dataset<Row> in = spark.createDataFrame(rows, schema).repartition(partitions).sortWithinPartitions("id").cache();
        in.count();
        GenerationSpec spec = GenerationSpec.of(model).withMaxTokens(nGen).withParallel(parallel);
        // warm-up: load the model and the engine once (AutoGGUFModel's load is outside its timing too)
        PanamaxSpark.generate(in.limit(2), spec.withMaxTokens(2)).collectAsList();
        long t0 = System.nanoTime();
        Dataset<Row> out = PanamaxSpark.generate(in, spec);
        StructType withDone = out.schema().add("done_ms", DataTypes.DoubleType);
        List<Row> result = out.map((MapFunction<Row, Row>) r -> {
            Object[] v = new Object[r.size() + 1];
            for (int i = 0; i < r.size(); i++) v[i] = r.get(i);
            v[r.size()] = (System.nanoTime() - t0) / 1e6; // local mode: the driver's clock
            return RowFactory.create(v);
        }, Encoders.row(withDone)).collectAsList();
        double s = (System.nanoTime() - t0) / 1e9;
        long gen = 0, prompt = 0, errors = 0;
        double[] done = new double[result.size()];
        for (int i = 0; i < result.size(); i++) {
            Row r = result.get(i);
            if (r.getAs("error") != null) errors++;
            else {
                gen += r.<Integer>getAs("completion_tokens");
                prompt += r.<Integer>getAs("prompt_tokens");
            }
            done[i] = r.getAs("done_ms");
        }
        Arrays.sort(done);
        System.out.printf("{\"rows\":%d,\"errors\":%d,\"seconds\":%.2f,\"prompt_tokens\":%d,\"gen_tokens\":%d,\"agg_tg_tps\":%.2f,"
                        + "\"rows_per_s\":%.3f,\"row_done_ms_p50\":%.1f,\"row_done_ms_p99\":%.1f}%n", result.size(), errors, s, prompt, gen, gen / s,
                result.size() / s, done[done.length / 2], done[(int) (done.length * 0.99)]);
        spark.stop();
    }
}
