package dev.panamax.spark;

import java.util.Arrays;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

/**
 * {@link PanamaxSpark#generate} as a Spark ML stage: a {@link Transformer} with typed {@code Param}s, usable in a
 * {@code Pipeline}, saved and loaded with {@code MLWritable} / {@code MLReadable} (the model file is referenced by its
 * path, not copied). Set either {@code promptCol} or {@code messagesCol}.
 *
 * <pre>{@code
 * PanamaxGenerator gen = new PanamaxGenerator().setModelPath("/models/m.gguf").setPromptCol("text").setMaxTokens(64);
 * Dataset<Row> out = gen.transform(df);
 * }</pre>
 */
public final class PanamaxGenerator extends Transformer implements DefaultParamsWritable {
    private final String uid;

    private final Param<String> modelPath;
    private final Param<String> promptCol;
    private final Param<String> messagesCol;
    private final Param<String> seedCol;
    private final IntParam maxTokens;
    private final DoubleParam temperature;
    private final IntParam topK;
    private final DoubleParam topP;
    private final DoubleParam minP;
    private final LongParam seed;
    private final StringArrayParam stop;
    private final IntParam threads;
    private final IntParam parallel;
    private final IntParam maxInFlight;
    private final IntParam contextLength;
    private final Param<String> jsonSchema;
    private final Param<String> jsonCol;

    public PanamaxGenerator() {
        this(org.apache.spark.ml.util.Identifiable$.MODULE$.randomUID("panamaxGenerator"));
    }

    public PanamaxGenerator(String uid) {
        this.uid = uid;
        modelPath = new Param<>(this, "modelPath", "the GGUF model file, at a path every executor can read");
        promptCol = new Param<>(this, "promptCol", "the prompt column (string, or binary UTF-8); empty when messagesCol is set");
        messagesCol = new Param<>(this, "messagesCol", "the chat column, array<struct<role, content>>; empty when promptCol is set");
        seedCol = new Param<>(this, "seedCol", "an optional int/bigint column: each row's seed (empty: none)");
        maxTokens = new IntParam(this, "maxTokens", "tokens generated per row at most", ParamValidators.gtEq(0));
        temperature = new DoubleParam(this, "temperature", "sampling temperature (0: greedy)", ParamValidators.gtEq(0));
        topK = new IntParam(this, "topK", "top-k (0: off)", ParamValidators.gtEq(0));
        topP = new DoubleParam(this, "topP", "top-p (1: off)", ParamValidators.inRange(0, 1, false, true));
        minP = new DoubleParam(this, "minP", "min-p (0: off)", ParamValidators.inRange(0, 1));
        seed = new LongParam(this, "seed", "the job's seed, mixed with each row's prompt");
        stop = new StringArrayParam(this, "stop", "stop strings");
        threads = new IntParam(this, "threads", "kernel threads per executor engine (0: the executor's cores)", ParamValidators.gtEq(0));
        parallel = new IntParam(this, "parallel", "sequences each executor's engine decodes together", ParamValidators.gt(0));
        maxInFlight = new IntParam(this, "maxInFlight", "rows one task keeps in the engine (0: 2 x parallel)", ParamValidators.gtEq(0));
        contextLength = new IntParam(this, "contextLength", "positions per sequence (0: min(the model's, 4096))", ParamValidators.gtEq(0));
        jsonSchema = new Param<>(this, "jsonSchema", "a JSON Schema every completion follows, parsed into the struct column jsonCol (empty: none)");
        jsonCol = new Param<>(this, "jsonCol", "the struct column of the parsed JSON (with jsonSchema)");
        GenerationSpec d = GenerationSpec.of("");
        setDefault(promptCol, "prompt");
        setDefault(messagesCol, "");
        setDefault(seedCol, "");
        setDefault(maxTokens, d.maxTokens());
        setDefault(temperature, (double) d.temperature());
        setDefault(topK, d.topK());
        setDefault(topP, (double) d.topP());
        setDefault(minP, (double) d.minP());
        setDefault(seed, d.seed());
        setDefault(stop, new String[0]);
        setDefault(threads, d.threads());
        setDefault(parallel, d.parallel());
        setDefault(maxInFlight, d.maxInFlight());
        setDefault(contextLength, d.contextLength());
        setDefault(jsonSchema, "");
        setDefault(jsonCol, "parsed");
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> modelPath() { return modelPath; }
    public Param<String> promptCol() { return promptCol; }
    public Param<String> messagesCol() { return messagesCol; }
    public Param<String> seedCol() { return seedCol; }
    public IntParam maxTokens() { return maxTokens; }
    public DoubleParam temperature() { return temperature; }
    public IntParam topK() { return topK; }
    public DoubleParam topP() { return topP; }
    public DoubleParam minP() { return minP; }
    public LongParam seed() { return seed; }
    public StringArrayParam stop() { return stop; }
    public IntParam threads() { return threads; }
    public IntParam parallel() { return parallel; }
    public IntParam maxInFlight() { return maxInFlight; }
    public IntParam contextLength() { return contextLength; }
    public Param<String> jsonSchema() { return jsonSchema; }
    public Param<String> jsonCol() { return jsonCol; }

    public PanamaxGenerator setModelPath(String v) { set(modelPath, v); return this; }
    /** Reads prompts from this column (and clears messagesCol). */
    public PanamaxGenerator setPromptCol(String v) { set(promptCol, v); set(messagesCol, ""); return this; }
    /** Reads chats from this column (and clears promptCol). */
    public PanamaxGenerator setMessagesCol(String v) { set(messagesCol, v); set(promptCol, ""); return this; }
    public PanamaxGenerator setSeedCol(String v) { set(seedCol, v); return this; }
    public PanamaxGenerator setMaxTokens(int v) { set(maxTokens, v); return this; }
    public PanamaxGenerator setTemperature(double v) { set(temperature, v); return this; }
    public PanamaxGenerator setTopK(int v) { set(topK, v); return this; }
    public PanamaxGenerator setTopP(double v) { set(topP, v); return this; }
    public PanamaxGenerator setMinP(double v) { set(minP, v); return this; }
    public PanamaxGenerator setSeed(long v) { set(seed, v); return this; }
    public PanamaxGenerator setStop(String... v) { set(stop, v); return this; }
    public PanamaxGenerator setThreads(int v) { set(threads, v); return this; }
    public PanamaxGenerator setParallel(int v) { set(parallel, v); return this; }
    public PanamaxGenerator setMaxInFlight(int v) { set(maxInFlight, v); return this; }
    public PanamaxGenerator setContextLength(int v) { set(contextLength, v); return this; }
    public PanamaxGenerator setJsonSchema(String v) { set(jsonSchema, v); return this; }
    public PanamaxGenerator setJsonCol(String v) { set(jsonCol, v); return this; }

    /** The job these params describe. */
    public GenerationSpec spec() {
        if (!isDefined(modelPath)) throw new IllegalArgumentException("modelPath is not set");
        GenerationSpec s = GenerationSpec.of($(modelPath));
        String messages = $(messagesCol);
        s = messages.isEmpty() ? s.withPromptColumn($(promptCol)) : s.withMessagesColumn(messages);
        String seeds = $(seedCol);
        if (!seeds.isEmpty()) s = s.withSeedColumn(seeds);
        String schema = $(jsonSchema);
        if (!schema.isEmpty()) s = s.withJsonSchema(schema, $(jsonCol));
        return s.withMaxTokens((Integer) $(maxTokens))
                .withSampling((float) (double) (Double) $(temperature), (Integer) $(topK), (float) (double) (Double) $(topP),
                        (float) (double) (Double) $(minP))
                .withSeed((Long) $(seed)).withStop(Arrays.asList($(stop))).withThreads((Integer) $(threads))
                .withParallel((Integer) $(parallel)).withMaxInFlight((Integer) $(maxInFlight))
                .withContextLength((Integer) $(contextLength));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        return PanamaxSpark.generate(dataset.toDF(), spec());
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return PanamaxSpark.outputSchema(schema, spec());
    }

    @Override
    public PanamaxGenerator copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    public static MLReader<PanamaxGenerator> read() {
        return new DefaultParamsReader<>();
    }

    public static PanamaxGenerator load(String path) {
        return read().load(path);
    }
}
