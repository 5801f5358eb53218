package dev.panamax;


import dev.panamax.engine.Scheduler;
import dev.panamax.Backend;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ModelWeights;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.spec.DraftVocabulary;
import dev.panamax.spec.NgramPool;
import dev.panamax.spec.Speculation;
import dev.panamax.tensor.GgmlType;
import dev.panamax.grammar.TypeSchema;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tools.QuantFileType;
import dev.panamax.tools.Quantizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The serving engine of a {@link Model}: many requests at once in one forward pass per step (continuous batching),
 * over a paged KV pool with a prefix cache, on one scheduler thread and one set of kernels (one native thread pool,
 * however many requests). {@link #submit} returns at once with a {@link RequestHandle}; requests join at the next step
 * and leave when done. Open with {@link Model#newEngine}; thread-safe. {@link #close()} (or closing the model) cancels
 * the requests in flight, waits for the running step, then frees the pool. See {@code dev.panamax.engine} for how it
 * works.
 */
public final class Engine implements AutoCloseable {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Engine.class);

    /**
     * @param maxSequences  sequences decoded together (llama-server's --parallel)
     * @param tokenBudget   tokens per step (decode tokens + prompt chunks; at least maxSequences)
     * @param contextLength positions per sequence (<= 0: min(context_length, 4096))
     * @param blockSize     token rows per KV block (the prefix cache's granularity)
     * @param kvBytes       the KV pool's size in bytes (<= 0: maxSequences × contextLength tokens, in whole blocks)
     * @param queueCapacity requests that may wait; beyond it submit throws {@link EngineOverloadedException}
     * @param prefixCache   reuse the KV blocks of prompt prefixes computed before
     * @param threads       kernel threads (<= 0: the model's setting)
     * @param speculation   the requests' default speculation ({@link Speculation#OFF}: none unless a request asks);
     *                      MTP needs it here (the engine then keeps the MTP layer's KV rows of every sequence), so
     *                      does a draft model ({@link Speculation#draft}: the engine loads the file, with the model's
     *                      options, checks that its vocabulary is the model's and gives it a KV pool of its own);
     *                      its k sizes the logits rows of a step
     * @param stepTarget    how long a step may take while sequences are decoding (their inter-token latency): prompt
     *                      chunks are cut to what fits beside the decode rows, from the step times the engine measures
     *                      (at least one KV block of prompt per step, so prompts always advance); {@link Duration#ZERO}:
     *                      no target, a step takes the whole token budget
     * @param quantizeDraft a draft model whose matrices are stored in floats (F32, F16, BF16) is quantized to Q8_0
     *                      as it loads (default): its guesses are the same as the float file's but for rounding, and
     *                      each draft pass reads half the bytes (the 0.9M KJV draft: speculation 1.33x instead of 1.19x
     *                      at k = 2); false: the file as it is
     */
    public record Config(int maxSequences, int tokenBudget, int contextLength, int blockSize, long kvBytes, int queueCapacity,
                         boolean prefixCache, int threads, Speculation speculation, Duration stepTarget, boolean quantizeDraft) {

        public Config {
            if (maxSequences <= 0) throw new IllegalArgumentException("max sequences must be positive, got " + maxSequences);
            if (tokenBudget < maxSequences) throw new IllegalArgumentException("token budget " + tokenBudget + " is below max sequences " + maxSequences);
            if (blockSize <= 0 || blockSize > 4096) throw new IllegalArgumentException("block size must be in 1..4096, got " + blockSize);
            if (queueCapacity < 0) throw new IllegalArgumentException("queue capacity must be >= 0, got " + queueCapacity);
            if (speculation == null) speculation = Speculation.OFF;
            if (stepTarget == null) stepTarget = Duration.ZERO;
            if (stepTarget.isNegative()) throw new IllegalArgumentException("step target must be >= 0, got " + stepTarget.toNanos() / 1e6 + " ms");
        }

        public static Config defaults() {
            return new Config(16, 512, 0, 32, 0, 256, true, 0, Speculation.OFF, Duration.ZERO, true);
        }

        public Config withMaxSequences(int n) {
            return new Config(n, Math.max(tokenBudget, n), contextLength, blockSize, kvBytes, queueCapacity, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withTokenBudget(int n) {
            return new Config(maxSequences, n, contextLength, blockSize, kvBytes, queueCapacity, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withContextLength(int n) {
            return new Config(maxSequences, tokenBudget, n, blockSize, kvBytes, queueCapacity, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withBlockSize(int n) {
            return new Config(maxSequences, tokenBudget, contextLength, n, kvBytes, queueCapacity, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withKvBytes(long n) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, n, queueCapacity, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withQueueCapacity(int n) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, n, prefixCache, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withPrefixCache(boolean on) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, queueCapacity, on, threads, speculation, stepTarget, quantizeDraft);
        }

        public Config withThreads(int n) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, queueCapacity, prefixCache, n, speculation, stepTarget, quantizeDraft);
        }

        /** The inter-token latency to keep while sequences decode (see {@code stepTarget}); ZERO: none. */
        public Config withStepTarget(Duration d) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, queueCapacity, prefixCache, threads, speculation, d, quantizeDraft);
        }

        /** The requests' default speculation. */
        public Config withSpeculation(Speculation s) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, queueCapacity, prefixCache, threads, s, stepTarget, quantizeDraft);
        }

        /** Whether a draft model stored in floats (F32, F16, BF16) is quantized to Q8_0 as it loads (see {@code quantizeDraft}). */
        public Config withDraftQuantization(boolean on) {
            return new Config(maxSequences, tokenBudget, contextLength, blockSize, kvBytes, queueCapacity, prefixCache, threads, speculation, stepTarget, on);
        }
    }

    /** A snapshot of the engine's load, from any thread. */
    public record Stats(int running, int waiting, int kvBlocksUsed, int kvBlocksTotal, int blockSize, long kvBytesPerBlock) {
        public long kvBytesUsed() {
            return kvBlocksUsed * kvBytesPerBlock;
        }
    }

    /**
     * Speculative decoding since the engine opened: tokens drafted and accepted, verify passes (a sequence's step with
     * drafts) and the tokens those passes emitted.
     */
    public record SpecStats(long drafted, long accepted, long passes, long tokens) {
        /** Accepted / drafted (0 when nothing was drafted). */
        public double acceptanceRate() {
            return drafted == 0 ? 0 : (double) accepted / drafted;
        }

        /** Tokens per verify pass (1 would be plain decoding; 0 when none ran). */
        public double tokensPerPass() {
            return passes == 0 ? 0 : (double) tokens / passes;
        }
    }

    private final Model model;
    private final Kernels kernels;
    private final Scheduler scheduler;
    private final long bytesPerBlock;
    private final int encoderContext; // an encoder's engine has no scheduler
    private final Config config;
    private final Model draft; // the draft model of draft-model speculation, or null
    private volatile boolean closed;

    Engine(Model model, ModelWeights weights, Model.Options o, Config c) {
        this.model = model;
        this.config = c;
        int trained = weights.trainedContextLength();
        int ctx = c.contextLength() > 0 ? c.contextLength() : Math.min(trained, 4096);
        if (ctx > trained) throw new IllegalArgumentException("context length " + ctx + " exceeds the model's context_length " + trained);
        if (model.isEncoder()) { // nothing to schedule: an encoder only embeds (embed), on the model's embedder
            this.kernels = null;
            this.scheduler = null;
            this.bytesPerBlock = 0;
            this.encoderContext = ctx;
            this.draft = null;
            return;
        }
        this.encoderContext = 0;
        GgmlType kType = o.cacheTypeK().ggmlType(), vType = o.cacheTypeV().ggmlType();
        // a quantized cache holds proportionally more tokens in the same kvBytes
        long perToken = weights.kvBytesPerToken(kType, vType);
        bytesPerBlock = perToken * c.blockSize();
        long seqBlocks = (ctx + c.blockSize() - 1) / c.blockSize();
        long nBlocks = c.kvBytes() > 0 ? c.kvBytes() / bytesPerBlock : Math.multiplyExact(seqBlocks, (long) c.maxSequences());
        long poolBytes = nBlocks * bytesPerBlock;
        if (nBlocks < seqBlocks) {
            throw new IllegalArgumentException("a KV pool of " + c.kvBytes() + " bytes holds " + nBlocks * c.blockSize()
                    + " tokens, less than one context of " + ctx);
        }
        if (nBlocks > Integer.MAX_VALUE / c.blockSize()) throw new IllegalArgumentException("KV pool too large: " + poolBytes + " bytes");
        Backend backend = o.backend();
        this.draft = c.speculation().mode() == Speculation.Mode.DRAFT ? loadDraft(c.speculation(), model, o, c.quantizeDraft()) : null;
        try {
            this.kernels = KernelsProvider.create(backend, c.threads() > 0 ? c.threads() : o.threads());
        } catch (RuntimeException | OutOfMemoryError e) {
            if (draft != null) draft.close();
            throw e;
        }
        try {
            this.scheduler = new Scheduler(weights, draft == null ? null : draft.weights(), model.tokenizer(), kernels,
                    new Scheduler.Limits(c.maxSequences(), c.tokenBudget(), ctx, c.blockSize(), (int) nBlocks,
                            c.queueCapacity(), c.prefixCache(), kType, vType, c.speculation(), c.stepTarget().toNanos()));
        } catch (RuntimeException | OutOfMemoryError e) {
            kernels.close();
            if (draft != null) draft.close();
            throw e;
        }
    }

    /**
     * The draft model of {@code sp}, loaded with the target's options, its vocabulary checked against the target's; a
     * float draft quantized to Q8_0 first when {@code quantize} ({@link Config#quantizeDraft}).
     */
    private static Model loadDraft(Speculation sp, Model target, Model.Options o, boolean quantize) {
        if (sp.draftModel() == null) throw new IllegalArgumentException("an engine's draft-model speculation names the draft model's file (Speculation.draft(file, k))");
        Model d;
        try {
            Path q = quantize ? quantizedDraft(sp.draftModel(), o.threads()) : null;
            try {
                d = Model.load(q != null ? q : sp.draftModel(), o);
            } finally {
                if (q != null) Files.deleteIfExists(q); // mapped: the pages stay until the model closes
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot load the draft model " + sp.draftModel() + ": " + e.getMessage(), e);
        }
        try {
            if (d.isEncoder()) throw new IllegalArgumentException("the draft model " + sp.draftModel() + " is an encoder (" + d.architecture() + "), it does not generate");
            DraftVocabulary.check(target.tokenizer(), d.tokenizer(), sp.draftModel().toString());
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    /**
     * A Q8_0 copy of a draft whose matrices are floats, in a temporary file (the caller deletes it once loaded); null
     * when the draft has quantized matrices already. A draft pass is mostly weight reads of a few small matrices: Q8_0
     * halves them against F16, and its guesses are the float model's but for rounding.
     */
    static Path quantizedDraft(Path file, int threads) throws java.io.IOException {
        String types;
        try (GgufFile f = GgufFile.open(file)) {
            boolean floats = false;
            for (GgufTensor t : f.tensors()) {
                if (t.shape().length < 2) continue; // norms and biases stay F32 in any file
                if (t.type() != GgmlType.F32 && t.type() != GgmlType.F16 && t.type() != GgmlType.BF16) return null;
                floats = true;
            }
            if (!floats) return null;
            types = f.tensors().stream().filter(t -> t.shape().length >= 2).map(GgufTensor::typeName).distinct().sorted()
                    .collect(java.util.stream.Collectors.joining("/"));
        }
        Path tmp = Files.createTempFile("panamax-draft-", "-q8_0.gguf");
        long t0 = System.nanoTime();
        try {
            new Quantizer(QuantFileType.Q8_0).threads(threads).quantize(file, tmp);
        } catch (java.io.IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        LOG.info("draft model {} ({} matrices) quantized to Q8_0 at load in {} ms (Engine.Config.withDraftQuantization(false) keeps it as it is)",
                file.getFileName(), types, (System.nanoTime() - t0) / 1_000_000);
        return tmp;
    }

    /**
     * Queues a request; text and outcome arrive through the handle.
     *
     * @throws ContextOverflowException  when prompt + max tokens exceed the context (or the whole KV pool)
     * @throws EngineOverloadedException when the waiting queue is full
     * @throws IllegalArgumentException  for a token id outside the vocabulary
     * @throws IllegalStateException     when the engine is closed
     */
    public RequestHandle submit(GenerationRequest request) {
        return submit(request, null);
    }

    /**
     * As {@link #submit(GenerationRequest)}, with each token pushed to {@code listener} as it is sampled (at the end,
     * text held back for a UTF-8 character or a possible stop string comes with token id -1). The listener runs on the
     * engine's thread between steps: it must return quickly (hand the text to another thread to do I/O); one that
     * throws ends its own request with that exception.
     */
    public RequestHandle submit(GenerationRequest request, TokenListener listener) {
        if (closed) throw new IllegalStateException("engine is closed");
        if (scheduler == null) throw new IllegalStateException(model.architecture() + " is an encoder: it makes embeddings (embed), it does not generate");
        RequestHandle h = new RequestHandle(listener);
        h.attach(scheduler.submit(request, h.sink));
        return h;
    }

    /** Encodes the prompt (BOS as the model asks) and submits it. */
    public RequestHandle submit(String prompt, int maxTokens, SamplingParams sampling) {
        return submit(GenerationRequest.of(model.tokenizer().encode(prompt), maxTokens, sampling));
    }

    /**
     * Renders the conversation with the model's chat template (and the generation prompt), tokenizes it as llama.cpp's
     * chat does, and submits it: the reply is the generated text.
     *
     * @throws dev.panamax.tokenizer.ChatTemplateException when the template does not render these messages
     */
    public RequestHandle submitChat(List<ChatMessage> messages, int maxTokens, SamplingParams sampling, TokenListener listener) {
        return submit(GenerationRequest.of(chatTokens(messages), maxTokens, sampling), listener);
    }

    /**
     * Typed output: asks the model (the prompt as the user's message, the model's chat template, greedy decoding) for
     * an instance of a record or sealed interface. Decoding is constrained to the JSON Schema of the type ({@link
     * TypeSchema}), so a reply that ends on its own always parses; the prompt should still say what is wanted.
     *
     * @throws IllegalArgumentException naming the component whose type cannot be expressed as JSON Schema
     * @throws IllegalStateException    when the reply stopped before its JSON was complete (context full, cancelled)
     */
    public <T> T generate(String prompt, Class<T> type) {
        return generate(List.of(ChatMessage.user(prompt)), type, 0, SamplingParams.greedy());
    }

    /**
     * As {@link #generate(String, Class)}, for a conversation, with a token limit ({@code <= 0}: the rest of the
     * context) and sampling settings (their grammar is replaced by the type's).
     */
    public <T> T generate(List<ChatMessage> messages, Class<T> type, int maxTokens, SamplingParams sampling) {
        TypeSchema<T> schema = TypeSchema.of(type);
        int[] ids = chatTokens(messages);
        int max = maxTokens > 0 ? maxTokens : contextLength() - ids.length;
        if (max <= 0) throw new ContextOverflowException(ids.length, contextLength());
        Generation g = submit(GenerationRequest.of(ids, max, sampling.withGrammar(schema.grammar()))).join();
        if (g.stop() != Generation.StopReason.END_OF_GENERATION) {
            throw new IllegalStateException("the reply stopped (" + g.stop().apiName() + ") after " + g.tokens().length
                    + " tokens, before the JSON of " + type.getSimpleName() + " was complete");
        }
        return schema.parse(g.text());
    }

    /** The conversation rendered with the model's chat template (and the generation prompt), as token ids. */
    private int[] chatTokens(List<ChatMessage> messages) {
        ChatTemplate t;
        try {
            t = model.chatTemplate();
        } catch (dev.panamax.gguf.GgufFormatException e) {
            throw new IllegalStateException("the model's chat template cannot be read: " + e.getMessage(), e);
        }
        return t.tokenize(t.render(messages, true), model.tokenizer());
    }

    /**
     * One normalized embedding per text, pooled as the model's file says: {@link Model#embed(List)}. Embeddings run
     * on the model's embedder (its own thread pool, batches of texts per forward step), not through this engine's
     * scheduler: a separate path that shares the weights, not the steps.
     */
    public List<float[]> embed(List<String> texts) {
        if (closed) throw new IllegalStateException("engine is closed");
        return model.embed(texts);
    }

    public Stats stats() {
        if (scheduler == null) return new Stats(0, 0, 0, 0, 1, 0);
        return new Stats(scheduler.runningSequences(), scheduler.waitingRequests(), scheduler.usedBlocks(),
                scheduler.totalBlocks(), scheduler.limits().blockSize(), bytesPerBlock);
    }

    /** Blocks in use and in all of the draft model's KV pool ({0, 0} without one): what draft-model speculation holds. */
    public int[] draftKvBlocks() {
        if (draft == null) return new int[] {0, 0};
        return new int[] {scheduler.draftUsedBlocks(), scheduler.limits().nBlocks()};
    }

    /**
     * The n-gram pool that prompt-lookup speculation ({@code ngram}) falls back on when a sequence's own tokens have no
     * match: the text of every request that ended, bounded ({@link NgramPool}). Add documents the replies will quote
     * (token ids of this model) from any thread.
     */
    public NgramPool ngramPool() {
        if (scheduler == null) throw new IllegalStateException(model.architecture() + " is an encoder: it does not generate");
        return scheduler.ngramPool();
    }

    /** The draft model of draft-model speculation, or null. */
    public Model draftModel() {
        return draft;
    }

    /** The configuration the engine was opened with. */
    public Config config() {
        return config;
    }

    /** Speculation counters (any thread). */
    public SpecStats specStats() {
        if (scheduler == null) return new SpecStats(0, 0, 0, 0);
        var c = scheduler.specCounters();
        return new SpecStats(c.drafted(), c.accepted(), c.passes(), c.tokens());
    }

    /** Durations in milliseconds of the most recent forward steps (at most 4096), oldest first within the window. */
    public double[] recentStepMillis() {
        if (scheduler == null) return new double[0];
        return Arrays.stream(scheduler.recentStepNanos()).mapToDouble(n -> n / 1e6).toArray();
    }

    /** Positions per sequence. */
    public int contextLength() {
        if (scheduler == null) return encoderContext;
        return scheduler.limits().contextLength();
    }

    /** Threads of the engine's kernels. */
    public int threads() {
        if (kernels == null) return model.embedder().threads();
        return kernels.threads();
    }

    /** Which kernels run the engine ("native/avx512", ...). */
    public String kernelsName() {
        if (kernels == null) return model.embedder().kernelsName();
        return kernels.name();
    }

    public Model model() {
        return model;
    }

    /** Whether {@link #close()} was called: a closed engine takes no requests. */
    public boolean isClosed() {
        return closed;
    }

    /** Cancels the requests in flight, waits for the running step to end, frees the KV pool and the thread pool. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (scheduler != null) scheduler.close();
        if (kernels != null) kernels.close();
        if (draft != null) draft.close();
        model.closed(this);
    }
}
