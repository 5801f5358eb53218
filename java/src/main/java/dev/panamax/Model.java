package dev.panamax;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.Backend;
import dev.panamax.embed.Embedder;
import dev.panamax.embed.Embedding;
import dev.panamax.embed.Pooling;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ModelWeights;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A GGUF model loaded once (the file mapped read-only, weights used in place, or repacked once into the interleaved
 * layout where the kernels compute faster that way: {@link Options#packWeights}) from which many {@link Session}s are
 * opened, each with its own KV cache. Thread-safe: sessions may be opened and used from many threads at once (each
 * session by one thread at a time). For many concurrent requests open an {@link Engine} instead: one forward pass
 * serves all of them. {@link #close()} closes the engines and sessions still open (cancelling their work in flight and
 * waiting for it), then unmaps the file.
 */
public final class Model implements AutoCloseable {

    /**
     * @param backend       kernels backend, null for automatic
     * @param threads       threads per operation (<= 0: one per CPU)
     * @param contextLength default positions per session (<= 0: min(context_length, 4096))
     * @param batchSize     prompt tokens per forward step (llama.cpp's ubatch, default 512)
     * @param cacheTypeK    how the KV cache stores keys (F16 by default; llama.cpp's {@code -ctk})
     * @param cacheTypeV    how the KV cache stores values (F16 by default; llama.cpp's {@code -ctv}). A model with a
     *                      latent cache (deepseek2's MLA: one row is key and value) needs the same type for both
     * @param packWeights   repack at load the matrices the kernels compute faster interleaved (default; see
     *                      {@link dev.panamax.model.PackedWeights}: costs one pass over them at load, no memory)
     */
    public record Options(Backend backend, int threads, int contextLength, int batchSize, CacheType cacheTypeK,
                          CacheType cacheTypeV, boolean packWeights) {
        public Options {
            java.util.Objects.requireNonNull(cacheTypeK, "cacheTypeK");
            java.util.Objects.requireNonNull(cacheTypeV, "cacheTypeV");
            if (batchSize < 0) throw new IllegalArgumentException("batch size must be >= 0, got " + batchSize);
        }

        public static Options defaults() {
            return new Options(null, 0, 0, 512, CacheType.F16, CacheType.F16, true);
        }

        public Options withBackend(Backend b) {
            return new Options(b, threads, contextLength, batchSize, cacheTypeK, cacheTypeV, packWeights);
        }

        public Options withThreads(int t) {
            return new Options(backend, t, contextLength, batchSize, cacheTypeK, cacheTypeV, packWeights);
        }

        public Options withContextLength(int n) {
            return new Options(backend, threads, n, batchSize, cacheTypeK, cacheTypeV, packWeights);
        }

        public Options withBatchSize(int n) {
            return new Options(backend, threads, contextLength, n, cacheTypeK, cacheTypeV, packWeights);
        }

        /** The same type for keys and values. */
        public Options withCacheType(CacheType t) {
            return new Options(backend, threads, contextLength, batchSize, t, t, packWeights);
        }

        public Options withCacheTypes(CacheType k, CacheType v) {
            return new Options(backend, threads, contextLength, batchSize, k, v, packWeights);
        }

        public Options withPackWeights(boolean on) {
            return new Options(backend, threads, contextLength, batchSize, cacheTypeK, cacheTypeV, on);
        }
    }

    private final GgufFile file;
    private final ModelWeights weights;
    private final Tokenizer tokenizer;
    private final Options options;
    private final Set<Session> sessions = Collections.newSetFromMap(new ConcurrentHashMap<>());
    private final Set<Engine> engines = Collections.newSetFromMap(new ConcurrentHashMap<>());
    private volatile boolean closed;
    private ChatTemplate chatTemplate;
    private final Pooling pooling;
    private Embedder embedder;

    private Model(GgufFile file, ModelWeights weights, Tokenizer tokenizer, Options options, Pooling pooling) {
        this.file = file;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.options = options;
        this.pooling = pooling;
    }

    public static Model load(Path path) throws IOException {
        return load(path, Options.defaults());
    }

    /**
     * @throws GgufFormatException when the file is malformed, its architecture unsupported, or a tensor is missing or
     *                             has the wrong shape
     */
    public static Model load(Path path, Options options) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            ModelWeights w = ModelWeights.load(f);
            w.checkKvTypes(options.cacheTypeK().ggmlType(), options.cacheTypeV().ggmlType());
            Tokenizer tok = Tokenizer.fromGguf(f.metadata());
            String poolKey = w.arch() + ".pooling_type";
            Pooling pooling;
            try { // llama.cpp's default when the file says nothing: none (per-token rows)
                pooling = Pooling.fromGguf(f.metadata().getInt(poolKey, Pooling.NONE.ggufValue));
            } catch (IllegalArgumentException e) {
                throw new GgufFormatException(poolKey + ": " + e.getMessage());
            }
            // llama.cpp sizes token_embd from the token list: fewer tokens would let the model sample ids that have no
            // text, more would let a prompt hold ids that have no embedding
            if (tok.vocabSize() != w.vocabSize()) {
                throw new GgufFormatException("the tokenizer has " + tok.vocabSize() + " tokens but token_embd.weight has "
                        + w.vocabSize() + " rows");
            }
            if (options.packWeights()) {
                // the kernels the sessions will use decide (each session makes its own of the same kind)
                try (Kernels k = KernelsProvider.create(options.backend(), options.threads())) {
                    w.pack(k);
                }
            }
            return new Model(f, w, tok, options, pooling);
        } catch (GgufFormatException e) {
            f.close();
            // the reader names the file in its messages; the model and tokenizer checks say what, not where
            if (e.getMessage() != null && e.getMessage().startsWith(path.toString())) throw e;
            throw new GgufFormatException(path + ": " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** Opens a session with the model's default context length. */
    public Session newSession() {
        return newSession(options.contextLength());
    }

    /**
     * Opens a session whose KV cache holds {@code contextLength} positions (<= 0: min(context_length, 4096)).
     *
     * @throws IllegalArgumentException when the context exceeds the model's trained context_length
     */
    public Session newSession(int contextLength) {
        if (closed) throw new IllegalStateException("model is closed");
        requireDecoder();
        int trained = weights.trainedContextLength();
        int n = contextLength > 0 ? contextLength : Math.min(trained, 4096);
        if (n > trained) {
            throw new IllegalArgumentException("context length " + n + " exceeds the model's context_length " + trained);
        }
        Session s = new Session(this, weights, n, options);
        sessions.add(s);
        return s;
    }

    void closed(Session s) {
        sessions.remove(s);
    }

    /**
     * Opens a serving engine on this model: continuous batching of many requests, a paged KV pool with a prefix cache
     * ({@link Engine}). Backend, threads and KV cache type come from the model's options unless the config says. An
     * encoder's engine ({@link #isEncoder()}) generates nothing: it answers {@link Engine#embed} only.
     */
    public Engine newEngine(Engine.Config config) {
        if (closed) throw new IllegalStateException("model is closed");
        Engine e = new Engine(this, weights, options, config);
        engines.add(e);
        if (closed) { // closed meanwhile: do not leak it
            e.close();
            throw new IllegalStateException("model is closed");
        }
        return e;
    }

    /** An engine with {@link Engine.Config#defaults()}. */
    public Engine newEngine() {
        return newEngine(Engine.Config.defaults());
    }

    void closed(Engine e) {
        engines.remove(e);
    }

    private void requireDecoder() {
        if (isEncoder()) throw new IllegalStateException(architecture() + " is an encoder: it makes embeddings (embed, rerank), it does not generate");
    }

    /** Whether the model is an encoder (bert): embeddings and reranking only, no sessions or engines. */
    public boolean isEncoder() {
        return weights instanceof dev.panamax.model.BertWeights;
    }

    /** The pooling the file names ({@code {arch}.pooling_type}; none when it has no such key, as llama.cpp). */
    public Pooling pooling() {
        return pooling;
    }

    /**
     * The model's embedder, made on first use with the model's backend, threads and batch size (a thread pool of its
     * own: embeddings do not run on an engine's scheduler thread). Closed with the model.
     */
    public synchronized Embedder embedder() {
        if (closed) throw new IllegalStateException("model is closed");
        if (embedder == null) {
            String tmpl;
            try {
                tmpl = file.metadata().getString("tokenizer.chat_template.rerank", null);
            } catch (GgufFormatException e) {
                throw new IllegalStateException("tokenizer.chat_template.rerank: " + e.getMessage(), e);
            }
            int batch = options.batchSize() > 0 ? options.batchSize() : 512;
            embedder = new Embedder(weights, tokenizer, KernelsProvider.create(options.backend(), options.threads()), pooling,
                    tmpl, batch, 64);
        }
        return embedder;
    }

    /**
     * One normalized embedding per text, pooled as the file says (texts batched together, tokenized as llama.cpp's
     * embedding tools do: special tokens added and parsed).
     *
     * @throws IllegalStateException    when the file's pooling is none or rank (use {@link #embed(List, Pooling, boolean)}
     *                                  or {@link #rerank})
     * @throws IllegalArgumentException for an empty text or one longer than the context
     */
    public List<float[]> embed(List<String> texts) {
        if (pooling == Pooling.NONE || pooling == Pooling.RANK) {
            throw new IllegalStateException("the model's pooling is " + pooling + ": no single vector per text (pass a pooling"
                    + (pooling == Pooling.RANK ? ", or use rerank" : "") + ")");
        }
        return embed(texts, pooling, true).stream().map(Embedding::vector).toList();
    }

    /** Embeddings with the given pooling (null: the file's), normalized to unit length or raw. */
    public List<Embedding> embed(List<String> texts, Pooling pooling, boolean normalize) {
        return embedder().embed(texts, pooling, normalize);
    }

    /** Embeddings of token sequences (pooling null: the file's). */
    public List<Embedding> embedTokens(List<int[]> inputs, Pooling pooling, boolean normalize) {
        return embedder().embedTokens(inputs, pooling, normalize);
    }

    /**
     * Reranker scores of the documents for the query (a model with rank pooling's classification head).
     *
     * @throws IllegalStateException when the model has no classification head
     */
    public float[] rerank(String query, List<String> documents) {
        return embedder().rerank(query, documents);
    }

    /**
     * The model's chat template ({@code tokenizer.chat_template}; ChatML when the file has none, as llama.cpp does),
     * parsed on first use.
     *
     * @throws dev.panamax.tokenizer.ChatTemplateException when the file's template does not parse or render
     */
    public synchronized ChatTemplate chatTemplate() throws GgufFormatException {
        if (chatTemplate == null) chatTemplate = ChatTemplate.fromGguf(file.metadata(), tokenizer);
        return chatTemplate;
    }

    /** The weights (the engine runs a draft model's). */
    ModelWeights weights() {
        return weights;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The architecture as GGUF names it: llama, qwen2, qwen3, qwen3moe, deepseek2, bert. */
    public String architecture() {
        return weights.arch();
    }

    public int vocabSize() {
        return weights.vocabSize();
    }

    /** The context length the model was trained with. */
    public int trainedContextLength() {
        return weights.trainedContextLength();
    }

    public long parameterCount() {
        return weights.parameterCount();
    }

    /** Bytes of KV cache per token of context with the configured cache types (all layers, keys and values). */
    public long kvBytesPerToken() {
        return weights.kvBytesPerToken(options.cacheTypeK().ggmlType(), options.cacheTypeV().ggmlType());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        // engines and sessions stop their work in flight and wait for it before anything they read is freed
        for (Engine e : engines.toArray(new Engine[0])) e.close();
        for (Session s : sessions.toArray(new Session[0])) s.close();
        synchronized (this) {
            if (embedder != null) embedder.close();
        }
        weights.packed().close();
        file.close();
    }
}
