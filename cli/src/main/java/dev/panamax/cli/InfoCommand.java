package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.panamax.Backend;
import dev.panamax.CacheType;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.kernels.NativeCore;
import dev.panamax.kernels.NativeLibrary;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.model.DeepseekConfig;
import dev.panamax.model.LlamaConfig;
import dev.panamax.model.ModelConfig;
import dev.panamax.tensor.GgmlType;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.TreeMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code panamax info}: CPU features, the kernels chosen, library and ABI versions; with {@code -m}, a "model" object
 * read from the GGUF header and tensor directory alone (no weights are touched, so any architecture works).
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Print CPU features, the chosen ISA and backend, and library/ABI versions.",
                "With -m: the model's architecture, parameter count, tensor types, KV cache bytes per token (F16 cache),"
                        + " trained context length and vocabulary size."})
final class InfoCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, description = "GGUF model file to describe.")
    Path model;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--backend", description = "Force a backend: native or java (default: automatic).",
            converter = BackendConverter.class)
    Backend backend;

    @Option(names = "--threads", description = "Threads per operation (default: one per CPU).")
    int threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Map<String, Object> info = new LinkedHashMap<>();
        try (Kernels kernels = KernelsProvider.create(backend, threads)) {
            boolean nativeOk = tryLoadNative(info);
            info.put("backend", kernels.backend().id());
            info.put("kernels", kernels.name());
            info.put("threads", kernels.threads());
            if (!nativeOk) info.put("isa", null);
        }
        info.put("java_version", Runtime.version().toString());
        info.put("java_vector_bits", vectorBits());
        info.put("os_arch", System.getProperty("os.name") + "/" + System.getProperty("os.arch"));
        info.put("available_processors", Runtime.getRuntime().availableProcessors());
        if (model != null) info.put("model", describe(model));
        var out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(info));
        } else {
            for (var e : info.entrySet()) {
                Object v = e.getValue();
                if (v instanceof Map<?, ?> m) {
                    for (var me : m.entrySet()) out.printf("%-22s %s%n", e.getKey() + "." + me.getKey(), me.getValue());
                } else {
                    out.printf("%-22s %s%n", e.getKey(), v instanceof List<?> l ? String.join(" ", l.stream().map(String::valueOf).toList()) : v);
                }
            }
        }
        return 0;
    }

    /**
     * The "model" object. n_params counts the elements of every tensor in the file (as llama.cpp's
     * llama_model_n_params); types counts tensors per ggml type name ("q4_0", "q4_K", "f32", ...);
     * kv_bytes_per_token is K + V over all layers with the default F16 cache, null for an architecture whose cache
     * layout Panamax does not know (it runs llama, qwen2, qwen3, qwen3moe and deepseek2); kv_bytes_per_token_by_type
     * the same for each KV cache type (-ctk = -ctv) the model can store (a block type needs head sizes it divides).
     *
     * @throws GgufFormatException when the file is malformed or a required key is missing
     */
    static Map<String, Object> describe(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new FileNotFoundException("model file not found: " + path);
        try (GgufFile f = GgufFile.open(path)) {
            GgufMetadata md = f.metadata();
            String arch = md.getString("general.architecture");
            long nParams = 0;
            Map<String, Integer> types = new TreeMap<>();
            for (GgufTensor t : f.tensors()) {
                nParams += t.elementCount();
                types.merge(t.typeName(), 1, Integer::sum);
            }
            GgufTensor embd = f.tensor("token_embd.weight");
            int nVocab = md.has("tokenizer.ggml.tokens") ? md.getArray("tokenizer.ggml.tokens").size()
                    : embd != null && embd.shape().length == 2 ? (int) embd.shape()[1] : -1;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("arch", arch);
            m.put("name", md.getString("general.name", null));
            m.put("n_params", nParams);
            m.put("types", types);
            ModelConfig config = config(md, arch, Math.max(nVocab, 1));
            m.put("kv_bytes_per_token", config == null ? null : config.kvBytesPerToken(GgmlType.F16, GgmlType.F16));
            Map<String, Long> byType = new LinkedHashMap<>();
            for (CacheType t : CacheType.values()) {
                GgmlType g = ggmlType(t);
                try {
                    if (config != null) config.checkKvTypes(g, g);
                } catch (IllegalArgumentException e) {
                    continue; // a block type that does not divide this model's heads
                }
                if (config != null) byType.put(t.id(), config.kvBytesPerToken(g, g));
            }
            m.put("kv_bytes_per_token_by_type", config == null ? null : byType);
            m.put("n_ctx_train", md.has(arch + ".context_length") ? md.getLong(arch + ".context_length") : null);
            m.put("n_vocab", nVocab >= 0 ? nVocab : null);
            m.put("file_bytes", Files.size(path));
            return m;
        }
    }

    /** The configuration of the architectures Panamax runs (null for others). */
    private static ModelConfig config(GgufMetadata md, String arch, int nVocab) throws GgufFormatException {
        if (LlamaConfig.supports(arch)) return LlamaConfig.fromMetadata(md, nVocab);
        if (DeepseekConfig.supports(arch)) return DeepseekConfig.fromMetadata(md, nVocab);
        return null;
    }

    /** The storage type of a cache type (the same names). */
    static GgmlType ggmlType(CacheType t) {
        return GgmlType.valueOf(t.name());
    }

    /** Fills the native facts; false (with the reason under "native_error") when the library cannot load. */
    private static boolean tryLoadNative(Map<String, Object> info) {
        try {
            NativeCore.ensureLoaded();
            info.put("features", NativeCore.cpuFeatures());
            info.put("isa", NativeCore.activeIsa().id());
            info.put("abi_version", NativeCore.abiVersion());
            info.put("library_version", NativeCore.libraryVersion());
            info.put("library", NativeLibrary.loadedFrom());
            return true;
        } catch (UnsatisfiedLinkError e) {
            info.put("features", List.of());
            info.put("native_error", e.getMessage());
            return false;
        }
    }

    private static Object vectorBits() {
        try {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize();
        } catch (LinkageError e) {
            return null;
        }
    }
}
