package dev.panamax.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against files written by llama.cpp's tools and against llama.cpp itself. Runs only when the reference
 * toolkit is installed (system property {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref).
 */
class GgufConformanceTest {

    static final Path REF = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"));

    @TempDir
    Path dir;

    static void assumeRef(Path p) {
        Assumptions.assumeTrue(Files.exists(p), "llama.cpp reference not installed: " + p + " is absent (see shared/tools/llamacpp-ref/setup.sh)");
    }

    static List<Path> list(Path folder, String glob) throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(folder)) {
            s.filter(p -> folder.getFileSystem().getPathMatcher("glob:" + glob).matches(p.getFileName())).sorted().forEach(out::add);
        }
        return out;
    }

    @Test
    void opensEveryReferenceFile() throws IOException {
        assumeRef(REF.resolve("models"));
        List<Path> files = new ArrayList<>(list(REF.resolve("models"), "*.gguf"));
        int models = files.size();
        files.addAll(list(REF.resolve("src/models"), "ggml-vocab-*.gguf"));
        assertTrue(models > 0, "no models in " + REF.resolve("models"));
        assertTrue(files.size() > models, "no vocab files in " + REF.resolve("src/models"));
        for (Path p : files) {
            try (GgufFile f = GgufFile.open(p)) {
                GgufMetadata m = f.metadata();
                String arch = m.getString("general.architecture");
                assertFalse(arch.isBlank(), p.toString());
                String tokModel = m.getString("tokenizer.ggml.model");
                assertFalse(tokModel.isBlank(), p.toString());
                if (!tokModel.equals("none")) {
                    String[] tokens = m.getStringArray("tokenizer.ggml.tokens");
                    assertTrue(tokens.length > 0, p.toString());
                    if (m.has("tokenizer.ggml.token_type")) assertEquals(tokens.length, m.getIntArray("tokenizer.ggml.token_type").length, p.toString());
                    if (m.has("tokenizer.ggml.scores")) assertEquals(tokens.length, m.getFloatArray("tokenizer.ggml.scores").length, p.toString());
                    if (m.has("tokenizer.ggml.merges")) assertTrue(m.getStringArray("tokenizer.ggml.merges").length > 0, p.toString());
                }
                MemorySegment all = f.segment();
                for (GgufTensor t : f.tensors()) {
                    long start = t.data().address() - all.address();
                    assertEquals(f.dataOffset() + t.offset(), start, t.name());
                    assertTrue(start >= 0 && start + t.byteSize() <= all.byteSize(), t.name());
                    assertEquals(t.byteSize(), t.data().byteSize());
                    assertEquals(0, t.offset() % f.alignment());
                }
                if (p.getParent().equals(REF.resolve("models"))) {
                    assertFalse(f.tensors().isEmpty(), p.toString());
                    assertTrue(m.getInt(arch + ".block_count") > 0, p.toString());
                }
                // values read with llama.cpp's gguf-py from the fixtures setup.sh writes
                String file = p.getFileName().toString();
                if (file.equals("tiny-llama-f32.gguf")) {
                    expect(f, "llama", "llama", 32000, 21);
                } else if (file.equals("tiny-deepseek2-f32.gguf")) {
                    expect(f, "deepseek2", "gpt2", 102400, 33);
                }
            }
        }
    }

    static void expect(GgufFile f, String arch, String tokModel, int nVocab, int nTensors) throws GgufFormatException {
        GgufMetadata m = f.metadata();
        assertEquals(arch, m.getString("general.architecture"));
        assertEquals(tokModel, m.getString("tokenizer.ggml.model"));
        assertEquals(nVocab, m.getStringArray("tokenizer.ggml.tokens").length);
        assertEquals(2, m.getInt(arch + ".block_count"));
        assertEquals(2048, m.getInt(arch + ".context_length"));
        assertEquals(256, m.getInt(arch + ".embedding_length"));
        assertEquals(nTensors, f.tensors().size());
    }

    @Test
    void copyIsByteIdenticalToLlamaCppOutput() throws IOException {
        // q4_k_m was written by llama.cpp's C writer (llama_model_quantize), f32 by gguf-py
        for (String name : List.of("tiny-llama-q4_k_m.gguf", "tiny-llama-f32.gguf")) {
            Path src = REF.resolve("models").resolve(name);
            assumeRef(src);
            Path dst = dir.resolve(name);
            try (GgufFile f = GgufFile.open(src)) {
                GgufRoundTripTest.copy(f).write(dst);
            }
            assertEquals(-1L, Files.mismatch(src, dst), name + ": copy differs from the original");
            Files.delete(dst);
        }
        // gguf-py leaves out the padding after the tensor infos of a file without tensors, llama.cpp's C writer
        // (and ours) always pads: the copy is the original plus fewer than `alignment` zero bytes
        Path vocab = REF.resolve("src/models/ggml-vocab-gpt-2.gguf");
        assumeRef(vocab);
        Path dst = dir.resolve("vocab.gguf");
        try (GgufFile f = GgufFile.open(vocab)) {
            GgufRoundTripTest.copy(f).write(dst);
        }
        byte[] a = Files.readAllBytes(vocab);
        byte[] b = Files.readAllBytes(dst);
        assertTrue(b.length >= a.length && b.length - a.length < 32 && b.length % 32 == 0, a.length + " -> " + b.length);
        assertArrayEquals(a, java.util.Arrays.copyOf(b, a.length));
        for (int i = a.length; i < b.length; i++) assertEquals(0, b[i]);
    }

    @Test
    void llamaCppRunsTheCopyLikeTheOriginal() throws Exception {
        Path llref = REF.resolve("bin/llref");
        Path src = REF.resolve("models/tiny-llama-f32.gguf");
        assumeRef(llref);
        assumeRef(src);
        // rebuild through the writer with a different alignment so the copy is not a byte copy of the original
        Path dst = dir.resolve("x.gguf");
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter w = GgufRoundTripTest.copy(f);
            w.alignment(64);
            w.write(dst);
        }
        try (GgufFile f = GgufFile.open(dst)) {
            assertEquals(64, f.alignment());
        }
        List<String> a = generated(llref, src);
        List<String> b = generated(llref, dst);
        assertEquals(2, a.size(), "llref output lacks token lines: " + a);
        assertEquals(a, b);
    }

    /** llref's "prompt tokens" and "generated ids" lines for a greedy run. */
    static List<String> generated(Path llref, Path model) throws Exception {
        Process p = new ProcessBuilder(llref.toString(), "-m", model.toString(), "-p", "Hello", "-n", "4", "--fa", "0", "-T", "1")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "llref timed out");
        assertEquals(0, p.exitValue(), "llref failed on " + model + ": " + out);
        return out.lines().filter(l -> l.startsWith("prompt tokens") || l.startsWith("generated ids")).toList();
    }
}
