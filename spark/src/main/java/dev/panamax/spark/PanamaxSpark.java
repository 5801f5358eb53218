package dev.panamax.spark;

import java.util.Arrays;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The plain Java entry point: {@code PanamaxSpark.generate(df, GenerationSpec.of("/models/m.gguf").withMaxTokens(64))}
 * returns {@code df} with the output columns added (see the package documentation). Lazy like any transformation: the
 * rows are generated when an action runs.
 */
public final class PanamaxSpark {
    /** The columns {@link #generate} adds, in this order. */
    public static final StructType OUTPUT_COLUMNS = new StructType()
            .add("completion", DataTypes.StringType, true)
            .add("finish_reason", DataTypes.StringType, true)
            .add("prompt_tokens", DataTypes.IntegerType, true)
            .add("completion_tokens", DataTypes.IntegerType, true)
            .add("cached_tokens", DataTypes.IntegerType, true)
            .add("error", DataTypes.StringType, true);

    private PanamaxSpark() {}

    public static Dataset<Row> generate(Dataset<Row> input, GenerationSpec spec) {
        StructType out = outputSchema(input.schema(), spec);
        String master = input.sparkSession().sparkContext().master();
        // local and local-cluster executors see the driver's files: a wrong path fails here, before any task runs
        if (master.startsWith("local")) ExecutorEngines.resolve(spec.modelPath());
        return input.mapPartitions(new RowGenerator(spec, input.schema()), Encoders.row(out));
    }

    /**
     * The input's columns followed by {@link #OUTPUT_COLUMNS} (and, with a JSON schema, its struct column); checks the
     * input columns' types.
     */
    public static StructType outputSchema(StructType input, GenerationSpec spec) {
        if (spec.promptColumn() != null) {
            DataType t = field(input, spec.promptColumn()).dataType();
            if (!t.equals(DataTypes.StringType) && !t.equals(DataTypes.BinaryType)) {
                throw new IllegalArgumentException("the prompt column '" + spec.promptColumn() + "' must be a string or binary (UTF-8) column, it is " + t.simpleString());
            }
        } else {
            DataType t = field(input, spec.messagesColumn()).dataType();
            if (!(t instanceof ArrayType a && a.elementType() instanceof StructType s
                    && Arrays.asList(s.fieldNames()).containsAll(java.util.List.of("role", "content")))) {
                throw new IllegalArgumentException("the messages column '" + spec.messagesColumn()
                        + "' must be array<struct<role: string, content: string>>, it is " + t.simpleString());
            }
        }
        if (spec.seedColumn() != null) {
            DataType t = field(input, spec.seedColumn()).dataType();
            if (!(t instanceof IntegerType || t instanceof LongType)) {
                throw new IllegalArgumentException("the seed column '" + spec.seedColumn() + "' must be int or bigint, it is " + t.simpleString());
            }
        }
        StructType out = input;
        for (StructField f : OUTPUT_COLUMNS.fields()) {
            if (Arrays.asList(input.fieldNames()).contains(f.name())) {
                throw new IllegalArgumentException("the input already has a column '" + f.name() + "' (an output column)");
            }
            out = out.add(f);
        }
        if (spec.jsonSchema() != null) {
            if (Arrays.asList(out.fieldNames()).contains(spec.jsonColumn())) {
                throw new IllegalArgumentException("the input already has a column '" + spec.jsonColumn() + "' (the JSON schema's column)");
            }
            out = out.add(spec.jsonColumn(), JsonSchemaColumn.structType(spec.jsonSchema()), true);
        }
        return out;
    }

    private static StructField field(StructType schema, String name) {
        if (!Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new IllegalArgumentException("no column '" + name + "' in " + schema.simpleString());
        }
        return schema.apply(name);
    }

    /**
     * The flags of this JVM that an executor JVM needs too (Panamax's: native access and the Vector API; Spark's:
     * the opens spark-submit adds), for {@code spark.executor.extraJavaOptions} of a cluster started from here.
     */
    public static String executorJavaOptions() {
        java.util.List<String> args = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments();
        java.util.List<String> out = new java.util.ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if ((a.equals("--add-opens") || a.equals("--add-modules")) && i + 1 < args.size()) {
                out.add(a + "=" + args.get(++i));
            } else if (a.startsWith("--add-opens=") || a.startsWith("--add-modules=") || a.startsWith("--enable-native-access")
                    || a.startsWith("--sun-misc-unsafe-memory-access") || a.startsWith("-Djdk.reflect.useDirectMethodHandle")
                    || a.startsWith("-Dio.netty.tryReflectionSetAccessible")) {
                out.add(a);
            }
        }
        return String.join(" ", out);
    }

    /**
     * Kernel threads for this executor's engine: every task running here shares it, so it gets the executor's cores
     * ({@code local[N]}: N; {@code local-cluster[n, cores, mem]}: cores; else {@code spark.executor.cores}), at most
     * the machine's. Tasks themselves mostly wait on the engine, so {@code spark.task.cpus} only bounds how many
     * partitions feed it at once.
     */
    static int executorCores() {
        int machine = Runtime.getRuntime().availableProcessors();
        SparkEnv env = SparkEnv.get();
        if (env == null) return machine;
        SparkConf conf = env.conf();
        String master = conf.get("spark.master", "");
        int cores;
        if (master.startsWith("local-cluster[")) {
            cores = Integer.parseInt(master.substring("local-cluster[".length(), master.length() - 1).split(",")[1].trim());
        } else if (master.startsWith("local")) {
            int open = master.indexOf('[');
            String n = open < 0 ? "1" : master.substring(open + 1, master.length() - 1).split(",")[0].trim();
            cores = n.equals("*") ? machine : Integer.parseInt(n);
        } else {
            cores = conf.getInt("spark.executor.cores", machine);
        }
        return Math.max(1, Math.min(cores, machine));
    }
}
