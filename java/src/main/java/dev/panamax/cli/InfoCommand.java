package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.panamax.kernels.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.kernels.NativeCore;
import dev.panamax.kernels.NativeLibrary;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code panamax info}: CPU features, the kernels chosen, library and ABI versions. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print CPU features, the chosen ISA and backend, and library/ABI versions.")
final class InfoCommand implements Callable<Integer> {

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
        var out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(info));
        } else {
            for (var e : info.entrySet()) {
                Object v = e.getValue();
                out.printf("%-22s %s%n", e.getKey(), v instanceof List<?> l ? String.join(" ", l.stream().map(String::valueOf).toList()) : v);
            }
        }
        return 0;
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
