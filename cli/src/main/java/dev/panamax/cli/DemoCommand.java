package dev.panamax.cli;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.Backend;
import dev.panamax.CacheType;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.function.IntConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code panamax demo}: shows text and speed without a model download. First the small llama trained in this repository
 * (models/, on the King James Bible) continues a prompt, greedy and sampled: real text from real weights. Then the
 * speed part writes (once, then reuses) a TinyLlama-1.1B-shaped Q4_0 GGUF with random weights through Panamax's own
 * writer, generates from a short prompt and benchmarks it: gibberish text, but the shapes, bytes and kernels are those
 * of the real model, so the speed is real.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate from the small llama trained in this repository on the King James Bible"
                + " (models/kjv-llama-4.6m-f16.gguf; greedy, then sampled), then write (first run only) a"
                + " TinyLlama-1.1B-shaped Q4_0 model with RANDOM weights to the cache directory, generate 32 tokens from"
                + " it and benchmark it (pp128, tg32).",
                "The second model's text is gibberish (random weights); its speed is real (same shapes and bytes as"
                + " TinyLlama-1.1B Q4_0).",
                "For another model: ./panamax generate -m your.gguf -p \"...\""})
final class DemoCommand implements Callable<Integer> {

    /** Shape of a Llama model written by {@link #writeModel}. */
    record Shape(int dim, int nLayer, int nHead, int nKvHead, int ffn, int vocab, int ctx) {
        /** TinyLlama-1.1B (v1.0): what llama.cpp's Q4_0 of it reads per token, minus its Q6_K output head. */
        static final Shape TINYLLAMA_1_1B = new Shape(2048, 22, 32, 4, 5632, 32000, 2048);

        Shape {
            if (dim % nHead != 0 || nHead % nKvHead != 0 || dim % 32 != 0 || ffn % 32 != 0 || (dim / nHead) % 2 != 0) {
                throw new IllegalArgumentException("inconsistent shape " + this);
            }
            if (vocab < MIN_VOCAB) throw new IllegalArgumentException("vocab must be at least " + MIN_VOCAB + ", got " + vocab);
        }
    }

    static final String FILE_NAME = "demo-tinyllama-q4_0.gguf";
    /** The trained model the demo starts with, relative to the repository (the launcher passes its root). */
    static final String TRAINED_MODEL = "models/kjv-llama-4.6m-f16.gguf";
    static final long SEED = 20240101L;
    /** unk, BOS, EOS, 256 byte tokens and the "▁" piece: the least an SPM vocabulary with byte fallback needs. */
    static final int MIN_VOCAB = 3 + 256 + 1;

    @Option(names = "--threads", defaultValue = "0", description = "Threads per operation (default: one per CPU).")
    int threads;

    @Option(names = "--backend", converter = BackendConverter.class, description = "native or java (default: automatic).")
    Backend backend;

    @Option(names = "--cache-dir", description = "Where the demo model lives (default: $XDG_CACHE_HOME/panamax or ~/.cache/panamax).")
    Path cacheDir;

    @Option(names = {"-p", "--prompt"}, defaultValue = "Once upon a time",
            description = "Prompt of the speed part (default: ${DEFAULT-VALUE}).")
    String prompt;

    @Option(names = "--trained-model", description = "The trained model of the first part (default: " + TRAINED_MODEL
            + " in the Panamax checkout).")
    Path trainedModel;

    @Option(names = "--trained-prompt", defaultValue = "And God said",
            description = "Prompt for the trained model (default: ${DEFAULT-VALUE}).")
    String trainedPrompt;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the sampled continuation (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-speed", description = "Only the trained model's text, no TinyLlama-shaped speed part.")
    boolean noSpeed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        trainedText(out);
        if (noSpeed) return 0;
        out.println("== 2. Speed: a TinyLlama-1.1B-shaped model ==");
        out.println();
        Path dir = cacheDir != null ? cacheDir : defaultCacheDir();
        Path file = dir.resolve(FILE_NAME);
        if (!usable(file)) {
            Files.createDirectories(dir);
            out.printf("Writing a TinyLlama-1.1B-shaped Q4_0 model with random weights (one time) to %s%n", file);
            out.flush();
            long t0 = System.nanoTime();
            try (Kernels k = KernelsProvider.create(backend, threads)) {
                int[] last = {-1};
                writeModel(file, Shape.TINYLLAMA_1_1B, SEED, k, pct -> {
                    if (pct / 10 != last[0]) { // a line per 10%: readable in a terminal and in a log
                        last[0] = pct / 10;
                        out.printf("  %3d%%%n", pct);
                        out.flush();
                    }
                });
            }
            out.printf("Wrote %.0f MB in %.1f s (reused on later runs).%n", Files.size(file) / 1e6, (System.nanoTime() - t0) / 1e9);
        } else {
            out.printf("Using the cached demo model %s (%.0f MB)%n", file, Files.size(file) / 1e6);
        }
        out.println();
        out.println("NOTE: the weights are RANDOM. The text below is gibberish; the speed is real: the model has"
                + " TinyLlama-1.1B's shapes and Q4_0 bytes, and runs the same kernels a real model would.");
        out.println();

        Generation g;
        String kernelsName;
        try (Model m = Model.load(file, Model.Options.defaults().withBackend(backend).withThreads(threads));
             Session s = m.newSession()) {
            kernelsName = s.kernelsName();
            out.print(prompt);
            out.flush();
            g = s.generate(prompt, 32, SamplingParams.greedy(), (tok, text) -> {
                out.print(text);
                out.flush();
            });
            out.println();
        }
        out.printf("%ngenerate: %d prompt tokens, %d generated (%s), %s%n", g.promptTokens().length, g.tokens().length,
                g.stop().name().toLowerCase(java.util.Locale.ROOT), kernelsName);
        out.println();
        out.println("Benchmark (random prompt of 128 tokens, then 32 decoded tokens; after untimed warm-up runs):");
        out.flush();
        BenchCommand.Result r = BenchCommand.run(file, 128, 32, 0, threads, backend, 1, 42, true, CacheType.F16,
                CacheType.F16);
        r.print(out);
        out.println();
        out.println("These figures are what TinyLlama-1.1B Q4_0 would run at here; its output would be text, not noise.");
        out.println("Run a real model (any llama/qwen2 GGUF, e.g. from Hugging Face):");
        out.println("  ./panamax generate -m your.gguf -p \"Once upon a time\"");
        out.println("  ./panamax bench -m your.gguf");
        out.flush();
        return 0;
    }

    /** Part one: the trained model continues the prompt, greedy then sampled; skipped with a note when absent. */
    private void trainedText(PrintWriter out) throws IOException {
        Path file = trainedModel != null ? trainedModel : locateTrainedModel();
        out.println("== 1. Text: a 4.6M-parameter llama trained here on the King James Bible (models/MODEL_CARD.md) ==");
        if (file == null || !Files.isRegularFile(file)) {
            out.printf("(not found: %s; pass --trained-model PATH)%n%n", file != null ? file : TRAINED_MODEL);
            return;
        }
        out.printf("%s%n%n", file);
        try (Model m = Model.load(file, Model.Options.defaults().withBackend(backend).withThreads(threads))) {
            SamplingParams[] modes = {SamplingParams.greedy(), SamplingParams.defaults(seed)};
            String[] labels = {"greedy", "sampled (temp 0.8, top-k 40, top-p 0.95, min-p 0.05, seed " + seed + ")"};
            for (int i = 0; i < modes.length; i++) {
                out.printf("-- %s --%n%s", labels[i], trainedPrompt);
                out.flush();
                try (Session s = m.newSession()) {
                    Generation g = s.generate(trainedPrompt, 64, modes[i], (tok, text) -> {
                        out.print(text);
                        out.flush();
                    });
                    out.printf("%n(%d tokens, %.0f tokens/s)%n%n", g.tokens().length, g.decodeTps());
                }
            }
        }
        out.flush();
    }

    /**
     * {@link #TRAINED_MODEL} under the checkout: the launcher's {@code panamax.home}, else two levels above the jar
     * (java/target/panamax-cli.jar), else the working directory.
     */
    static Path locateTrainedModel() {
        String home = System.getProperty("panamax.home");
        if (home != null && !home.isBlank()) return Path.of(home).resolve(TRAINED_MODEL);
        try {
            Path jar = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path root = jar.getParent() != null && jar.getParent().getParent() != null ? jar.getParent().getParent().getParent() : null;
            if (root != null && Files.isRegularFile(root.resolve(TRAINED_MODEL))) return root.resolve(TRAINED_MODEL);
        } catch (Exception e) {
            // no code source (unusual class loaders): fall back to the working directory
        }
        return Path.of(TRAINED_MODEL);
    }

    static Path defaultCacheDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("panamax");
    }

    /** A cached file that opens as GGUF; anything else (absent, truncated by a killed first run) is rewritten. */
    private static boolean usable(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (GgufFile f = GgufFile.open(file)) {
            return f.tensor("output.weight") != null;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Writes a llama-architecture GGUF of this shape: Q4_0 2-D weights (untied output head), F32 norms, random values
     * uniform with std 0.02 (norms 1) from a fixed seed, and a synthetic SPM vocabulary. Floats are made and quantized
     * in chunks of about 4M, so memory holds the quantized model (~0.6 GB for TinyLlama) plus one chunk. The file is
     * written next to {@code out} and renamed into place, so a killed run never leaves a half-written model behind.
     *
     * @param progress receives 0..100 as tensors are made
     */
    static void writeModel(Path out, Shape s, long seed, Kernels k, IntConsumer progress) throws IOException {
        List<String> tokens = vocab(s.vocab());
        float[] scores = new float[s.vocab()];
        int[] types = new int[s.vocab()];
        for (int i = 0; i < s.vocab(); i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1; // unknown, control, byte, normal
            scores[i] = i < 259 ? 0f : -(i - 259); // earlier (shorter) pieces merge first
        }
        int hd = s.dim() / s.nHead();
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putString("general.name", "panamax-demo-tinyllama-1.1b-random")
                .putString("general.description", "RANDOM weights written by `panamax demo`: for speed measurements only;"
                        + " its output is gibberish")
                .putUInt32("general.file_type", 2) // llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0
                .putUInt32("llama.context_length", s.ctx())
                .putUInt32("llama.embedding_length", s.dim())
                .putUInt32("llama.block_count", s.nLayer())
                .putUInt32("llama.feed_forward_length", s.ffn())
                .putUInt32("llama.rope.dimension_count", hd)
                .putUInt32("llama.attention.head_count", s.nHead())
                .putUInt32("llama.attention.head_count_kv", s.nKvHead())
                .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .putFloat32("llama.rope.freq_base", 10000f)
                .putString("tokenizer.ggml.model", "llama")
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens.toArray(new String[0]))
                .putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores)
                .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types)
                .putUInt32("tokenizer.ggml.bos_token_id", 1)
                .putUInt32("tokenizer.ggml.eos_token_id", 2)
                .putUInt32("tokenizer.ggml.unknown_token_id", 0)
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putBool("tokenizer.ggml.add_eos_token", false);

        // (name, ne0 = row length, rows); rows == 0 marks a norm vector
        record T(String name, int cols, int rows) {}
        List<T> ts = new ArrayList<>();
        ts.add(new T("token_embd.weight", s.dim(), s.vocab()));
        ts.add(new T("output_norm.weight", s.dim(), 0));
        ts.add(new T("output.weight", s.dim(), s.vocab()));
        for (int l = 0; l < s.nLayer(); l++) {
            String b = "blk." + l + ".";
            ts.add(new T(b + "attn_norm.weight", s.dim(), 0));
            ts.add(new T(b + "attn_q.weight", s.dim(), s.nHead() * hd));
            ts.add(new T(b + "attn_k.weight", s.dim(), s.nKvHead() * hd));
            ts.add(new T(b + "attn_v.weight", s.dim(), s.nKvHead() * hd));
            ts.add(new T(b + "attn_output.weight", s.nHead() * hd, s.dim()));
            ts.add(new T(b + "ffn_norm.weight", s.dim(), 0));
            ts.add(new T(b + "ffn_gate.weight", s.dim(), s.ffn()));
            ts.add(new T(b + "ffn_up.weight", s.dim(), s.ffn()));
            ts.add(new T(b + "ffn_down.weight", s.ffn(), s.dim()));
        }
        long total = 0;
        for (T t : ts) total += (long) t.cols() * Math.max(1, t.rows());

        Path tmp = out.resolveSibling(out.getFileName() + ".partial");
        try (Arena arena = Arena.ofConfined()) {
            float a = 0.02f * (float) Math.sqrt(3); // uniform [-a, a] has std 0.02, the usual init scale
            MemorySegment chunk = arena.allocate(4L << 22, 64);
            long done = 0;
            for (int ti = 0; ti < ts.size(); ti++) {
                T t = ts.get(ti);
                // a stream per tensor: values do not depend on the chunk size or on the other tensors
                SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + ti);
                if (t.rows() == 0) {
                    MemorySegment v = arena.allocate(4L * t.cols(), 64);
                    v.fill((byte) 0);
                    for (int i = 0; i < t.cols(); i++) v.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
                    w.addTensor(t.name(), GgmlType.F32, new long[] {t.cols()}, v);
                    done += t.cols();
                    continue;
                }
                long rowBytes = GgmlType.Q4_0.rowBytes(t.cols());
                MemorySegment q = arena.allocate(rowBytes * t.rows(), 64);
                int chunkRows = Math.max(1, (1 << 22) / t.cols());
                for (int r0 = 0; r0 < t.rows(); r0 += chunkRows) {
                    int nr = Math.min(chunkRows, t.rows() - r0);
                    long n = (long) nr * t.cols();
                    MemorySegment f = chunk.asSlice(0, 4 * n);
                    for (long i = 0; i < n; i += 2) { // two 24-bit uniforms per 64-bit draw
                        long bits = rnd.nextLong();
                        f.setAtIndex(ValueLayout.JAVA_FLOAT, i, ((bits >>> 40) * 0x1p-23f - 1f) * a);
                        if (i + 1 < n) f.setAtIndex(ValueLayout.JAVA_FLOAT, i + 1, (((bits >>> 16) & 0xFFFFFF) * 0x1p-23f - 1f) * a);
                    }
                    k.quantize(GgmlType.Q4_0, q.asSlice(r0 * rowBytes, nr * rowBytes), f, nr, t.cols());
                    done += n;
                    progress.accept((int) (done * 100 / total));
                }
                w.addTensor(t.name(), GgmlType.Q4_0, new long[] {t.cols(), t.rows()}, q);
            }
            w.write(tmp);
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * A synthetic SentencePiece vocabulary of n tokens: {@code <unk>}, {@code <s>}, {@code </s>}, the 256 byte tokens
     * {@code <0xNN>}, then pieces from short to long ("▁", letters, digits, punctuation, "▁x", "ab", "▁ab", "abc", ...),
     * so that any text tokenizes (byte fallback) and common letter groups merge.
     */
    static List<String> vocab(int n) {
        LinkedHashSet<String> t = new LinkedHashSet<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        t.add("▁");
        String lower = "etaoinshrdlcumwfgypbvkjxqz";
        String chars = lower + lower.toUpperCase(java.util.Locale.ROOT) + "0123456789.,!?'\"-:;()";
        List<String> gen = new ArrayList<>();
        for (char c : chars.toCharArray()) gen.add(String.valueOf(c));
        for (char c : chars.toCharArray()) if (Character.isLetter(c)) gen.add("▁" + c);
        for (char c1 : lower.toCharArray()) for (char c2 : lower.toCharArray()) gen.add("" + c1 + c2);
        for (char c1 : lower.toCharArray()) for (char c2 : lower.toCharArray()) gen.add("▁" + c1 + c2);
        for (char c1 : lower.toCharArray()) for (char c2 : lower.toCharArray()) for (char c3 : lower.toCharArray()) {
            gen.add("" + c1 + c2 + c3);
            gen.add("▁" + c1 + c2 + c3);
        }
        for (int i = 0; t.size() < n && i < gen.size(); i++) t.add(gen.get(i));
        for (int i = 0; t.size() < n; i++) t.add("▁w" + i); // only for vocabularies larger than the letter groups
        return new ArrayList<>(t);
    }
}
