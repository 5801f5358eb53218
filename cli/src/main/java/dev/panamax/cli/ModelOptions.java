package dev.panamax.cli;

import dev.panamax.CacheType;
import dev.panamax.Model;
import dev.panamax.Backend;
import dev.panamax.kernels.Isa;
import dev.panamax.kernels.NativeCore;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by the commands that run a model (mixed in). */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file.")
    Path model;

    @Option(names = "--threads", description = "Threads per operation (default: one per CPU).", defaultValue = "0")
    int threads;

    @Option(names = "--backend", converter = BackendConverter.class, description = "native or java (default: automatic).")
    Backend backend;

    @Option(names = "--isa", converter = IsaConverter.class, description = IsaConverter.DESCRIPTION)
    Isa isa;

    @Option(names = "--no-pack", description = "Compute every weight as stored in the file (default: repack at load the "
            + "Q4_0/Q8_0/Q4_K/Q6_K matrices the native kernels compute faster interleaved, on AVX-512 VNNI).")
    boolean noPack;

    @Option(names = {"-c", "--ctx-size"}, description = "Context length of the session (default: min(context_length, 4096)).",
            defaultValue = "0")
    int ctx;

    @Option(names = {"-ctk", "--cache-type-k"}, converter = CacheTypeConverter.class,
            description = "KV cache type for K: f32, f16 (default), bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl.")
    CacheType cacheTypeK = CacheType.F16;

    @Option(names = {"-ctv", "--cache-type-v"}, converter = CacheTypeConverter.class,
            description = "KV cache type for V (as -ctk). A latent (MLA) cache needs the same type for K and V.")
    CacheType cacheTypeV = CacheType.F16;

    Model load() throws IOException {
        if (!java.nio.file.Files.isRegularFile(model)) throw new java.io.FileNotFoundException("model file not found: " + model);
        applyIsa();
        return Model.load(model, Model.Options.defaults().withBackend(backend).withThreads(threads).withContextLength(ctx)
                .withPackWeights(!noPack).withCacheTypes(cacheTypeK, cacheTypeV));
    }

    /** llama.cpp's cache type names. */
    static final class CacheTypeConverter implements picocli.CommandLine.ITypeConverter<CacheType> {
        @Override
        public CacheType convert(String s) {
            try {
                return CacheType.parse(s);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** Pins the native kernel set when --isa asks for one (process-wide: before any model is loaded). */
    void applyIsa() {
        if (isa != null) NativeCore.forceIsa(isa);
    }

    /** Parses "1,2,3". */
    static int[] parseTokens(String s) {
        String[] parts = s.split(",");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--tokens: '" + parts[i] + "' is not a token id");
            }
        }
        return ids;
    }
}
