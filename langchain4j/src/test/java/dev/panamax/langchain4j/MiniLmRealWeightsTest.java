package dev.panamax.langchain4j;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.panamax.Model;
import dev.panamax.convert.Onnx;
import dev.panamax.convert.OnnxFormatException;
import dev.panamax.gguf.GgufFile;
import dev.panamax.tokenizer.Tokenizer;
import dev.panamax.tokenizer.Vocabulary;
import dev.panamax.tools.QuantFileType;
import dev.panamax.tools.Quantizer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * all-MiniLM-L6-v2 on real weights, against an independent implementation: LangChain4j's own jar (the ONNX export and
 * its tokenizer.json) converted with {@code panamax convert}, then token ids against the Hugging Face tokenizer of that
 * tokenizer.json (DJL's binding of the Rust tokenizers, which is what LangChain4j's model tokenizes with) on 1,200
 * generated sentences (all identical: the converted file follows tokenizer.json's WordPiece rules where llama.cpp's
 * depart from them, {@link #llamaCppDeparts}),
 * and vectors against {@link AllMiniLmL6V2EmbeddingModel} (ONNX Runtime) at cosine >= 0.9999 on
 * 32 of them ({@code -Dpanamax.minilm.sweep=full}: all that fit the context). The converted file through llama.cpp
 * ({@code llembed}) gives the same tokens and vectors when the toolkit is present. {@code -Dpanamax.minilm.quant=true}
 * prints the BF16, Q8_0 and Q4_K_M copies' cosine to F32 (and to ONNX Runtime) and their top-5 neighbour agreement.
 */
class MiniLmRealWeightsTest {
    static final int SENTENCES = 1200;
    static final boolean FULL = "full".equals(System.getProperty("panamax.minilm.sweep"));
    static Model model;
    static HuggingFaceTokenizer reference;
    static List<String> sentences;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() throws Exception {
        model = Model.load(MiniLm.gguf(QuantFileType.F32), Model.Options.defaults().withThreads(2));
        reference = HuggingFaceTokenizer.newInstance(MiniLm.tokenizer(), Map.of("padding", "false", "truncation", "false"));
        sentences = MiniLm.sentences(SENTENCES, 21);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
        if (reference != null) reference.close();
    }

    static int[] referenceIds(String s) {
        return Arrays.stream(reference.encode(s).getIds()).mapToInt(Math::toIntExact).toArray();
    }

    @Test
    void convertedFileIsBert() {
        assertEquals("bert", model.architecture());
        assertEquals(384, model.embedder().width());
        assertEquals(512, model.trainedContextLength());
        assertEquals(30522, model.vocabSize());
        assertEquals(dev.panamax.embed.Pooling.MEAN, model.pooling());
    }

    /**
     * Where llama.cpp's WordPiece departs from Hugging Face's (the converted file says to follow tokenizer.json, so
     * Panamax does not; llama.cpp on the same file does): a Hangul syllable keeps only the first jamo of its NFD form
     * (HF: all of them), spacing and enclosing marks (Mc, Me: the vowel signs of Devanagari, Thai...) are dropped with
     * the accents (HF drops only Mn), and a word over 100 characters is cut into pieces (HF: one [UNK], its
     * max_input_chars_per_word).
     */
    static boolean llamaCppDeparts(String s) {
        return s.codePoints().anyMatch(c -> Character.UnicodeScript.of(c) == Character.UnicodeScript.HANGUL
                || Character.getType(c) == Character.COMBINING_SPACING_MARK || Character.getType(c) == Character.ENCLOSING_MARK)
                || LONG_WORD.matcher(s).find();
    }

    static final Pattern LONG_WORD = Pattern.compile("[\\p{L}\\p{N}\\p{M}]{101,}");

    /** The converted file's vocabulary with llama.cpp's WordPiece rules, as llama.cpp reads the file. */
    static Tokenizer llamaCppRules() throws Exception {
        try (GgufFile f = GgufFile.open(MiniLm.gguf(QuantFileType.F32))) {
            Vocabulary v = Vocabulary.fromGguf(f.metadata());
            assertEquals(Vocabulary.WORDPIECE_HUGGING_FACE, v.wordPieceRules(), "panamax convert writes tokenizer.json's rules");
            assertEquals(100, v.wordPieceMaxChars());
            return Tokenizer.of(v.withWordPieceRules(null, 0));
        }
    }

    @Test
    void tokenIdsAreTheReferenceTokenizers() throws Exception {
        int overLength = 0, unknown = 0, cjk = 0, same = 0, departs = 0;
        for (String s : sentences) {
            int[] ref = referenceIds(s);
            int[] ours = model.embedder().tokenize(s);
            assertArrayEquals(ref, ours, () -> "tokens differ from tokenizer.json's on: " + s);
            same++;
            if (llamaCppDeparts(s)) departs++;
            if (ref.length > model.trainedContextLength()) overLength++;
            if (IntStream.of(ref).anyMatch(t -> t == 100)) unknown++;
            if (s.codePoints().anyMatch(c -> Character.UnicodeScript.of(c) == Character.UnicodeScript.HAN)) cjk++;
        }
        System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 tokens: %d of %d sentences identical to tokenizer.json's (%d where llama.cpp's WordPiece departs)%n",
                same, sentences.size(), departs);
        assertTrue(overLength >= 10 && unknown >= 10 && cjk >= 100 && departs >= 100, "the sentences reach every case: " + overLength
                + " over the context, " + unknown + " with [UNK], " + cjk + " with CJK, " + departs + " where llama.cpp departs");
        // each departure alone: tokenizer.json's ids, and llama.cpp's rules on the same vocabulary give others
        Tokenizer llamaCpp = llamaCppRules();
        for (String s : new String[] {"한국어", "हिन्दी", "x".repeat(101), "ภาษาไทย"}) {
            assertArrayEquals(referenceIds(s), model.embedder().tokenize(s), s);
        }
        assertArrayEquals(new int[] {101, 1469, 29991, 29999, 102}, llamaCpp.encode("한국어", true, true), "llama.cpp: first jamo of each syllable");
        assertEquals(10, referenceIds("한국어").length);
        assertArrayEquals(new int[] {101, 1339, 29863, 29861, 102}, llamaCpp.encode("हिन्दी", true, true), "llama.cpp: Mc vowel signs dropped");
        assertArrayEquals(new int[] {101, 100, 102}, referenceIds("x".repeat(101)));
        assertTrue(llamaCpp.encode("x".repeat(101), true, true).length > 3, "llama.cpp: a 101-character word in pieces");
        assertArrayEquals(referenceIds("x".repeat(100)), model.embedder().tokenize("x".repeat(100)), "100 characters: pieces in both");
        int agree = 0;
        for (String s : sentences) if (!llamaCppDeparts(s) && Arrays.equals(referenceIds(s), llamaCpp.encode(s, true, true))) agree++;
        assertEquals(sentences.size() - departs, agree, "llama.cpp's rules agree everywhere else");
    }

    @Test
    void embeddingsMatchOnnxRuntime() {
        var onnx = new AllMiniLmL6V2EmbeddingModel();
        var ours = new PanamaxEmbeddingModel(model);
        List<String> fit = new ArrayList<>(), over = new ArrayList<>();
        for (String s : FULL ? sentences : sentences.subList(0, 40)) {
            if (referenceIds(s).length > model.trainedContextLength()) over.add(s);
            else fit.add(s);
        }
        if (!FULL) fit = fit.subList(0, 32);
        List<TextSegment> segs = fit.stream().map(TextSegment::from).toList();
        List<dev.langchain4j.data.embedding.Embedding> want = onnx.embedAll(segs).content();
        // LangChain4j's tokenizer keeps tokenizer.json's truncation (128 tokens with [CLS] and [SEP]): over that, its
        // vector is the first 126 tokens' one, which Panamax gives for those tokens
        List<int[]> inputs = new ArrayList<>();
        int truncated = 0;
        for (String s : fit) {
            int[] ids = referenceIds(s);
            if (ids.length > 128) {
                int[] cut = Arrays.copyOf(ids, 128);
                cut[127] = 102;
                ids = cut;
                truncated++;
            }
            inputs.add(ids);
        }
        double worst = 1;
        String worstText = null;
        for (int from = 0; from < inputs.size(); from += 64) {
            List<dev.panamax.embed.Embedding> got = model.embedTokens(inputs.subList(from, Math.min(inputs.size(), from + 64)), null, true);
            for (int i = 0; i < got.size(); i++) {
                double c = cosine(want.get(from + i).vector(), got.get(i).vector());
                if (c < worst) { worst = c; worstText = fit.get(from + i); }
            }
        }
        System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 F32 vs ONNX Runtime: %d texts (%d over 128 tokens, cut as LangChain4j cuts them), worst cosine %.7f%n",
                segs.size(), truncated, worst);
        assertTrue(worst >= 0.9999, "worst cosine " + worst + " on: " + worstText);
        assertTrue(truncated > 0 && truncated < segs.size(), truncated + " of " + segs.size() + " over 128 tokens");
        // through the provider, texts within 128 tokens: the same vectors
        List<TextSegment> shortOnes = new ArrayList<>();
        for (int i = 0; i < fit.size() && shortOnes.size() < 16; i++) if (inputs.get(i).length < 128) shortOnes.add(segs.get(i));
        List<dev.langchain4j.data.embedding.Embedding> viaProvider = ours.embedAll(shortOnes).content(), viaOnnx = onnx.embedAll(shortOnes).content();
        for (int i = 0; i < shortOnes.size(); i++) assertTrue(cosine(viaOnnx.get(i).vector(), viaProvider.get(i).vector()) >= 0.9999, shortOnes.get(i).text());
        for (String s : over) {
            assertThrows(IllegalArgumentException.class, () -> ours.embed(s), "over the 512-token context: refused, not truncated silently");
        }
    }

    @Test
    void llamaCppGivesTheSameVectors() throws Exception {
        Path ref = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));
        Path llembed = ref.resolve("bin/llembed");
        Assumptions.assumeTrue(Files.isExecutable(llembed), "SKIPPED: llama.cpp toolkit's llembed not found at " + llembed
                + " (set -Dpanamax.llamacpp.ref or run ../shared/tools/llamacpp-ref/setup.sh)");
        List<String> texts = new ArrayList<>();
        for (String s : sentences.subList(0, 40)) {
            // one text per line for llembed; tabs would make a line a rerank pair
            String t = s.replace('\t', ' ').replace('\n', ' ').strip();
            if (!t.isEmpty() && !llamaCppDeparts(t) && referenceIds(t).length <= model.trainedContextLength()) texts.add(t);
        }
        texts = new ArrayList<>(texts.subList(0, 12));
        String departing = "한국어 हिन्दी " + "x".repeat(101); // llama.cpp reads the file with its own WordPiece rules
        texts.add(departing);
        Path in = tmp.resolve("texts.txt"), out = tmp.resolve("ref.f32");
        Files.writeString(in, String.join("\n", texts) + "\n", StandardCharsets.UTF_8);
        Process p = new ProcessBuilder(llembed.toString(), "-m", MiniLm.gguf(QuantFileType.F32).toString(), "-f", in.toString(), "-T", "2",
                "-o", out.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), log);
        Matcher tm = Pattern.compile("text \\d+ tokens \\(\\d+\\):([ 0-9]*)").matcher(log);
        ByteBuffer vb = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(texts.size() * 384L * 4, vb.capacity(), log);
        List<float[]> ours = model.embed(texts);
        double worst = 1;
        Tokenizer llamaCpp = llamaCppRules();
        for (int i = 0; i < texts.size(); i++) {
            assertTrue(tm.find(), log);
            int[] llTokens = Arrays.stream(tm.group(1).trim().split(" +")).mapToInt(Integer::parseInt).toArray();
            if (texts.get(i) == departing) {
                assertArrayEquals(llamaCpp.encode(departing, true, true), llTokens, "llama.cpp keeps its own WordPiece rules");
                assertFalse(Arrays.equals(llTokens, model.embedder().tokenize(departing)), "where it departs from tokenizer.json");
                continue;
            }
            assertArrayEquals(llTokens, model.embedder().tokenize(texts.get(i)), texts.get(i));
            float[] v = new float[384];
            vb.asFloatBuffer().get(i * 384, v);
            worst = Math.min(worst, cosine(v, ours.get(i)));
        }
        System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 F32 vs llama.cpp: %d texts, worst cosine %.7f%n", texts.size() - 1, worst);
        assertTrue(worst >= 0.9999, "worst cosine " + worst);
    }

    @Test
    void brokenOnnxIsAClearError() throws Exception {
        byte[] head = new byte[1 << 20];
        try (var in = Files.newInputStream(MiniLm.onnx()); Arena arena = Arena.ofConfined()) {
            assertEquals(head.length, in.readNBytes(head, 0, head.length));
            var e = assertThrows(OnnxFormatException.class, () -> Onnx.parse(MemorySegment.ofArray(head), arena), "truncated file");
            assertTrue(e.getMessage().contains("runs past"), e.getMessage());
            byte[] junk = "not a protobuf at all, just text \u00ff\u00ff".getBytes(StandardCharsets.ISO_8859_1);
            assertThrows(OnnxFormatException.class, () -> Onnx.parse(MemorySegment.ofArray(junk), arena));
        }
    }

    /** The cost of quantization on real weights (opt-in: {@code -Dpanamax.minilm.quant=true}): printed for the README. */
    @Test
    void quantizedCopies() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("panamax.minilm.quant"), "quantized copies: -Dpanamax.minilm.quant=true");
        List<String> corpus = new ArrayList<>();
        for (String s : MiniLm.sentences(400, 5)) if (referenceIds(s).length <= 256) corpus.add(s);
        List<float[]> base = embedAll(model, corpus);
        // ONNX Runtime's vectors of the first 100 texts within its 128-token truncation: each copy's worst cosine to them
        List<Integer> short100 = IntStream.range(0, corpus.size()).filter(i -> referenceIds(corpus.get(i)).length <= 128).limit(100).boxed().toList();
        List<dev.langchain4j.data.embedding.Embedding> onnx = new AllMiniLmL6V2EmbeddingModel()
                .embedAll(short100.stream().map(i -> TextSegment.from(corpus.get(i))).toList()).content();
        System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 f32 vs ONNX Runtime: %d texts, worst cosine %.7f%n", short100.size(), worstTo(onnx, base, short100));
        for (String type : new String[] {"bf16", "q8_0", "q4_k_m"}) {
            Path q = tmp.resolve("minilm-" + type + ".gguf");
            new Quantizer(QuantFileType.parse(type)).quantize(MiniLm.gguf(QuantFileType.F32), q);
            try (Model m = Model.load(q, Model.Options.defaults().withThreads(2))) {
                List<float[]> v = embedAll(m, corpus);
                double worst = 1, sum = 0;
                for (int i = 0; i < v.size(); i++) {
                    double c = cosine(base.get(i), v.get(i));
                    worst = Math.min(worst, c);
                    sum += c;
                }
                int queries = 50, agree = 0;
                for (int qi = 0; qi < queries; qi++) {
                    Set<Integer> a = top5(base, qi), b = top5(v, qi);
                    a.retainAll(b);
                    agree += a.size();
                }
                double toOnnx = worstTo(onnx, v, short100);
                System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 %s vs F32: %d texts, mean cosine %.6f, worst %.6f; top-5 neighbours of %d queries among %d: %.1f%% shared; %.1f MiB; vs ONNX Runtime: worst cosine %.7f%n",
                        type, v.size(), sum / v.size(), worst, queries, corpus.size(), 100.0 * agree / (queries * 5), Files.size(q) / 1048576.0,
                        toOnnx);
                assertTrue(worst > 0.9, type + " worst cosine " + worst);
                // BF16 is the fast copy that keeps the bar against ONNX Runtime (README): hold it there
                if (type.equals("bf16")) assertTrue(toOnnx >= 0.9999, "bf16 worst cosine to ONNX Runtime " + toOnnx);
            }
        }
    }

    /** The worst cosine between want.get(j) and got.get(idx.get(j)). */
    private static double worstTo(List<dev.langchain4j.data.embedding.Embedding> want, List<float[]> got, List<Integer> idx) {
        double worst = 1;
        for (int j = 0; j < idx.size(); j++) worst = Math.min(worst, cosine(want.get(j).vector(), got.get(idx.get(j))));
        return worst;
    }

    private static List<float[]> embedAll(Model m, List<String> texts) {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < texts.size(); i += 64) out.addAll(m.embed(texts.subList(i, Math.min(texts.size(), i + 64))));
        return out;
    }

    /** The 5 nearest other texts to text q by cosine (vectors are unit length: dot product). */
    private static Set<Integer> top5(List<float[]> v, int q) {
        Integer[] idx = IntStream.range(0, v.size()).filter(i -> i != q).boxed().toArray(Integer[]::new);
        Arrays.sort(idx, (x, y) -> Double.compare(cosine(v.get(q), v.get(y)), cosine(v.get(q), v.get(x))));
        return new HashSet<>(Arrays.asList(idx).subList(0, 5));
    }

    static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }
}
