package dev.panamax.spark;

import dev.panamax.sampling.SamplingParams;
import java.io.Serializable;
import java.util.List;
import java.util.Objects;

/**
 * What a generation job does: which model, which column holds the input (a prompt string or binary column, or a
 * chat-messages column of {@code array<struct<role, content>>}), how rows are sampled, and how the executor's engine is
 * sized. Immutable and serializable (it travels to the executors); build with {@link #of(String)} and the
 * {@code with...} methods.
 *
 * @param modelPath      the GGUF file, at a path every executor can read (a local disk or a shared mount); when it is
 *                       missing on an executor, a file of that name added with {@code SparkContext.addFile} is used
 * @param promptColumn   the prompt's column (string: the text; binary: UTF-8 bytes, checked); null when messages
 * @param messagesColumn the chat's column, rendered with the model's chat template; null when prompt
 * @param maxTokens      tokens generated per row at most
 * @param temperature    0: greedy
 * @param topK           0: off
 * @param topP           1: off
 * @param minP           0: off
 * @param seed           the job's seed: a row without a seed column samples with a seed mixed from it and the row's
 *                       prompt, so that it does not depend on the partition or the attempt
 * @param seedColumn     an optional integer column: the row's own seed (null: none)
 * @param stop           stop strings (not part of the completion)
 * @param threads        kernel threads of each executor's engine (0: the executor's cores)
 * @param parallel       sequences each engine decodes together (its continuous batch)
 * @param maxInFlight    rows one task keeps in the engine at once (0: 2 × parallel)
 * @param contextLength  positions per sequence (0: min(the model's context, 4096))
 * @param jsonSchema     null, or a JSON Schema (an object at the root) every completion is constrained to; the parsed
 *                       value comes back in the struct column {@code jsonColumn} ({@link JsonSchemaColumn})
 * @param jsonColumn     the struct column's name (null when no schema)
 */
public record GenerationSpec(String modelPath, String promptColumn, String messagesColumn, int maxTokens, float temperature,
                             int topK, float topP, float minP, long seed, String seedColumn, List<String> stop, int threads,
                             int parallel, int maxInFlight, int contextLength, String jsonSchema, String jsonColumn)
        implements Serializable {

    public GenerationSpec {
        Objects.requireNonNull(modelPath, "modelPath");
        if ((promptColumn == null) == (messagesColumn == null)) {
            throw new IllegalArgumentException("exactly one of the prompt column and the messages column must be set");
        }
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (parallel <= 0) throw new IllegalArgumentException("parallel must be positive, got " + parallel);
        if (maxInFlight < 0) throw new IllegalArgumentException("max in flight must be >= 0, got " + maxInFlight);
        if (contextLength < 0) throw new IllegalArgumentException("context length must be >= 0, got " + contextLength);
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (jsonSchema != null) {
            if (jsonColumn == null || jsonColumn.isEmpty()) throw new IllegalArgumentException("the JSON schema's column has no name");
            JsonSchemaColumn.check(jsonSchema); // a schema that cannot be a struct or a grammar fails here, not on an executor
        } else {
            jsonColumn = null;
        }
        sampling(temperature, topK, topP, minP, seed); // range checks
    }

    /** Prompts from column "prompt", 256 tokens, greedy, 16 sequences per engine, seed 0. */
    public static GenerationSpec of(String modelPath) {
        return new GenerationSpec(modelPath, "prompt", null, 256, 0f, 0, 1f, 0f, 0, null, List.of(), 0, 16, 0, 0, null, null);
    }

    public GenerationSpec withPromptColumn(String c) {
        return new GenerationSpec(modelPath, Objects.requireNonNull(c), null, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withMessagesColumn(String c) {
        return new GenerationSpec(modelPath, null, Objects.requireNonNull(c), maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withMaxTokens(int n) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, n, temperature, topK, topP, minP, seed, seedColumn,
                stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withSampling(float temperature, int topK, float topP, float minP) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withSeed(long s) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, s,
                seedColumn, stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withSeedColumn(String c) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed, c,
                stop, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withStop(List<String> s) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, s, threads, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withThreads(int n) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, n, parallel, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withParallel(int n) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, n, maxInFlight, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withMaxInFlight(int n) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, n, contextLength, jsonSchema, jsonColumn);
    }

    public GenerationSpec withContextLength(int n) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, maxInFlight, n, jsonSchema, jsonColumn);
    }

    /**
     * Constrains every completion to this JSON Schema (through the library's grammar support) and adds the struct
     * column {@code parsed} holding the parsed value ({@link JsonSchemaColumn} says which schemas have a Spark type).
     *
     * @throws IllegalArgumentException when the schema has no struct type or cannot be compiled to a grammar
     */
    public GenerationSpec withJsonSchema(String schemaJson) {
        return withJsonSchema(schemaJson, "parsed");
    }

    /** {@link #withJsonSchema(String)}, the parsed value in the struct column {@code column}. */
    public GenerationSpec withJsonSchema(String schemaJson, String column) {
        return new GenerationSpec(modelPath, promptColumn, messagesColumn, maxTokens, temperature, topK, topP, minP, seed,
                seedColumn, stop, threads, parallel, maxInFlight, contextLength, Objects.requireNonNull(schemaJson, "schemaJson"),
                column);
    }

    /** Rows one task keeps in the engine at once. */
    int inFlight() {
        return maxInFlight > 0 ? maxInFlight : 2 * parallel;
    }

    /** The engine's sampling parameters for a row with this seed. */
    SamplingParams sampling(long rowSeed) {
        return sampling(temperature, topK, topP, minP, rowSeed);
    }

    private static SamplingParams sampling(float temperature, int topK, float topP, float minP, long seed) {
        return new SamplingParams(temperature, topK, topP, minP, 1f, 64, seed);
    }
}
