package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.spec.Speculation;
import dev.panamax.Model;
import dev.panamax.Backend;
import dev.panamax.CacheType;
import java.io.FileNotFoundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./panamax serve}: loads a model, opens an engine and serves the OpenAI API until SIGTERM / Ctrl-C. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a GGUF model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
                + "/v1/models, /tokenize, /detokenize, /health, /ready, /metrics).")
public final class ServeMain implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file.")
    Path model;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to bind (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port (default: ${DEFAULT-VALUE}; 0: any free port).")
    int port;

    @Option(names = {"-np", "--parallel"}, defaultValue = "4", description = "Sequences decoded together (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "0", description = "Positions per sequence (default: min(context_length, 4096)).")
    int ctx;

    @Option(names = "--threads", defaultValue = "0", description = "Kernel threads (default: one per CPU).")
    int threads;

    @Option(names = "--backend", description = "native or java (default: automatic).")
    String backend;

    @Option(names = {"-ctk", "--cache-type-k"}, defaultValue = "f16",
            description = "KV cache type for K: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl (default: ${DEFAULT-VALUE}).")
    String cacheTypeK;

    @Option(names = {"-ctv", "--cache-type-v"}, defaultValue = "f16",
            description = "KV cache type for V, as -ctk (default: ${DEFAULT-VALUE}); a latent (MLA) cache needs K's type.")
    String cacheTypeV;

    @Option(names = "--kv-bytes", defaultValue = "0",
            description = "KV pool size in bytes (default: --parallel x -c tokens); a quantized cache fits more tokens in it.")
    long kvBytes;

    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on every endpoint but /health and /ready.")
    String apiKey;

    @Option(names = "--api-key-file", description = "Read the API key from this file (first line).")
    Path apiKeyFile;

    @Option(names = "--alias", description = "The model's name in the API (default: the file name without .gguf).")
    String alias;

    @Option(names = "--spec", description = "Default speculative decoding of requests: off, ngram, mtp (deepseek2 files with a"
            + " nextn layer) or draft:M.gguf (a draft model with the same tokenizer); a request's \"speculative\" field"
            + " overrides it (default: off).")
    String spec;

    @Option(names = "--spec-k", defaultValue = "0", description = "Most drafted tokens per step (default: ngram 8, mtp 1, draft 4).")
    int specK;

    @Option(names = "--spec-draft-q8", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Quantize a draft model stored in floats (F32/F16/BF16) to Q8_0 as it loads (default; --no-spec-draft-q8: the file as it is).")
    boolean quantizeDraft = true;

    @Option(names = "--step-target-ms", defaultValue = "0", description = "Keep a step under about this many ms while"
            + " requests decode, cutting prompt chunks to fit: their inter-token latency when long prompts arrive, at the cost"
            + " of those prompts' time to first token (default: none, a step takes up to 512 tokens).")
    double stepTargetMs;

    @Option(names = "--queue", defaultValue = "256", description = "Requests that may wait; beyond it 429 (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--max-body", defaultValue = "8388608", description = "Largest request body in bytes (default: ${DEFAULT-VALUE}).")
    long maxBody;

    @Option(names = "--shutdown-timeout", defaultValue = "10", description = "Seconds running requests may finish on shutdown (default: ${DEFAULT-VALUE}).")
    int shutdownSeconds;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(model)) throw new FileNotFoundException("model file not found: " + model);
        String key = apiKey();
        String id = alias != null ? alias : model.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
        Model.Options mo = Model.Options.defaults().withThreads(threads).withContextLength(ctx)
                .withBackend(backend == null ? null : Backend.parse(backend))
                .withCacheTypes(CacheType.parse(cacheTypeK), CacheType.parse(cacheTypeV));
        Model m = Model.load(model, mo);
        Engine engine = m.newEngine(Engine.Config.defaults().withMaxSequences(parallel).withContextLength(ctx)
                .withQueueCapacity(queue).withKvBytes(kvBytes).withSpeculation(Speculation.parse(spec, specK)).withDraftQuantization(quantizeDraft)
                .withStepTarget(Duration.ofNanos(Math.round(stepTargetMs * 1e6))));
        ServerConfig cfg = new ServerConfig(host, port, key, id, maxBody, 16, Duration.ofSeconds(shutdownSeconds), 1);
        Server server = Server.start(engine, cfg);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            m.close(); // closes the engine too
            stopped.countDown();
        }, "panamax-shutdown"));
        Engine.Stats st = engine.stats();
        System.err.println("panamax: KV cache K " + mo.cacheTypeK().id() + ", V " + mo.cacheTypeV().id() + ": "
                + m.kvBytesPerToken() + " bytes/token, a pool of " + (long) st.kvBlocksTotal() * st.blockSize() + " tokens");
        System.err.println("panamax: serving " + id + " at " + server.baseUri() + "/v1 (Ctrl-C to stop)");
        stopped.await();
        return 0;
    }

    /**
     * The API key: --api-key, or the first line of --api-key-file without surrounding white space; null for none.
     *
     * @throws CommandLine.ParameterException when both are given, or the file's first line is blank
     * @throws java.io.IOException            when the file cannot be read
     */
    String apiKey() throws java.io.IOException {
        if (apiKeyFile == null) return apiKey;
        if (apiKey != null) throw new CommandLine.ParameterException(new CommandLine(this), "give --api-key or --api-key-file, not both");
        String key = Files.readAllLines(apiKeyFile, StandardCharsets.UTF_8).stream().findFirst().orElse("").trim();
        if (key.isEmpty()) throw new CommandLine.ParameterException(new CommandLine(this), "the first line of " + apiKeyFile + " is blank: no API key");
        return key;
    }

    public static void main(String[] args) {
        // the launcher passes "serve ..." as the panamax CLI would; the command is this one
        String[] a = args.length > 0 && args[0].equals("serve") ? java.util.Arrays.copyOfRange(args, 1, args.length) : args;
        CommandLine cl = new CommandLine(new ServeMain());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("panamax serve: " + e.getMessage());
            return 1;
        });
        System.exit(cl.execute(a));
    }
}
