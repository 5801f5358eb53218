package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.kernels.Isa;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.kernels.NativeCore;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.tensor.GgmlType;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code panamax microbench}: GEMV bandwidth per weight type and backend on a matrix far larger than the
 * last-level cache, next to a plain memory read measured in the same run. Decode speed is this number:
 * every weight byte is read once per token.
 */
@Command(name = "microbench", mixinStandardHelpOptions = true,
        description = {"GEMV GB/s per weight type and backend, against a plain memory read (under a minute).",
                "Types F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, Q4_1, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS on a matrix far larger than the last-level cache;",
                "the memory read is measured in the same run; every type but F16/BF16/Q5_0 also in the packed layout where the kernels",
                "prefer it (rows marked packed, JSON \"layout\": \"packed\")."})
final class MicrobenchCommand implements Callable<Integer> {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K,
        GgmlType.Q4_1, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q5_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS};

    @Option(names = "--threads", description = "Threads per run, native and Java (default: 1 and every CPU).")
    Integer threads;

    @Option(names = "--mib", description = "Weight matrix size in MiB (default: ${DEFAULT-VALUE}).", defaultValue = "256")
    int mib;

    @Option(names = "--seconds", description = "Measuring time per case (default: ${DEFAULT-VALUE}).", defaultValue = "0.4")
    double seconds;

    @Option(names = "--isa", converter = IsaConverter.class, description = IsaConverter.DESCRIPTION)
    Isa isa;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--batch", description = "Activation rows per product (default: ${DEFAULT-VALUE}, the decode GEMV; "
            + "more: the prompt's GEMM, reported in GFLOP/s as well).", defaultValue = "1")
    int batch;

    @Option(names = "--types", split = ",", description = "Only these weight types (e.g. q4_1,q3_k; default: all).")
    List<String> typeNames;

    @Option(names = "--native-only", description = "Skip the Java Vector API backend.")
    boolean nativeOnly;

    @Spec
    CommandSpec spec;

    static final int N_COLS = 4096;

    @Override
    public Integer call() throws Exception {
        if (mib < 1 || mib > 65536) throw new IllegalArgumentException("--mib must be in 1..65536");
        if (threads != null && threads < 1) throw new IllegalArgumentException("--threads must be >= 1");
        if (batch < 1 || batch > 4096) throw new IllegalArgumentException("--batch must be in 1..4096");
        GgmlType[] types = TYPES;
        if (typeNames != null) {
            types = new GgmlType[typeNames.size()];
            for (int i = 0; i < types.length; i++) {
                GgmlType ty = GgmlType.valueOf(typeNames.get(i).toUpperCase(java.util.Locale.ROOT));
                if (!java.util.Arrays.asList(TYPES).contains(ty)) throw new IllegalArgumentException("--types: no GEMV of " + ty);
                types[i] = ty;
            }
        }
        if (isa != null) NativeCore.forceIsa(isa);
        int cpus = Runtime.getRuntime().availableProcessors();
        List<Integer> threadCounts = threads != null ? List.of(threads) : cpus > 1 ? List.of(1, cpus) : List.of(1);
        PrintWriter out = spec.commandLine().getOut();
        long bytes = (long) mib << 20;
        List<Map<String, Object>> gemv = new ArrayList<>();
        List<Map<String, Object>> memRead = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) { // shared: the Java backend's threads read it too
            MemorySegment weights = arena.allocate(bytes, 4096);
            MemorySegment x = arena.allocate((long) batch * N_COLS * Float.BYTES, 64);
            // as many outputs per activation row as the type of the shortest rows (Q2_K) has rows in the matrix
            long minRowBytes = java.util.Arrays.stream(types).mapToLong(ty -> ty.rowBytes(N_COLS)).min().orElseThrow();
            MemorySegment y = arena.allocate((bytes / minRowBytes + 1) * batch * Float.BYTES, 64);
            fillFloats(x, (long) batch * N_COLS, new Random(1));
            weights.fill((byte) 1); // touch every page before timing
            for (int t : threadCounts) {
                try (NativeKernels k = new NativeKernels(t)) {
                    double gbs = measure(() -> k.readBytes(weights), bytes);
                    memRead.add(row(null, "native", t, gbs));
                }
            }
            for (GgmlType type : types) {
                int rows = (int) Math.min(Integer.MAX_VALUE, bytes / type.rowBytes(N_COLS));
                long used = rows * type.rowBytes(N_COLS);
                fillWeights(type, weights, rows, arena);
                for (int t : threadCounts) {
                    try (Kernels k = new NativeKernels(t)) {
                        gemv.add(row(type, "native", t, measure(() -> k.matmul(type, weights, rows, N_COLS, x, batch, y), used)));
                    }
                }
                // the interleaved copy that model loading makes where the kernels prefer it (AVX-512 VNNI)
                int rows16 = rows / 16 * 16;
                try (Kernels k1 = new NativeKernels(1)) {
                    long packedBytes = k1.packedBytes(type, rows16, N_COLS);
                    if (packedBytes > 0) {
                        try (Arena pa = Arena.ofShared()) {
                            MemorySegment packed = pa.allocate(packedBytes, 4096);
                            k1.pack(type, packed, weights, rows16, N_COLS);
                            for (int t : threadCounts) {
                                try (Kernels k = new NativeKernels(t)) {
                                    Map<String, Object> r = row(type, "native", t,
                                            measure(() -> k.matmulPacked(type, packed, rows16, N_COLS, x, batch, y), packedBytes));
                                    r.put("layout", "packed");
                                    gemv.add(r);
                                }
                            }
                        }
                    }
                }
                for (int t : nativeOnly ? List.<Integer>of() : threadCounts) {
                    try (Kernels k = KernelsProvider.javaKernels("microbench", t)) {
                        gemv.add(row(type, "java", k.threads(), measure(() -> k.matmul(type, weights, rows, N_COLS, x, batch, y), used)));
                    }
                }
            }
        }
        double memGbs = memRead.stream().mapToDouble(m -> (double) m.get("gbs")).max().orElse(0);
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("mem_read_gbs", memGbs);
            o.put("mem_read", memRead);
            o.put("matrix_mib", mib);
            o.put("batch", batch);
            o.put("gemv", gemv);
            out.println(new ObjectMapper().writeValueAsString(o));
        } else {
            for (Map<String, Object> m : memRead) out.printf("memory read   %-7s %2d threads  %6.1f GB/s%n", "", m.get("threads"), m.get("gbs"));
            for (Map<String, Object> m : gemv) {
                double ofRead = 100 * (double) m.get("gbs") / readAt(memRead, (int) m.get("threads"));
                out.printf("%s %-6s   %-7s %2d threads  %6.1f GB/s  (%3.0f%% of memory read)%s%s%n",
                        batch == 1 ? "gemv" : "gemm", m.get("type"), m.get("backend"), m.get("threads"), m.get("gbs"), ofRead,
                        batch == 1 ? "" : String.format("  %7.1f GFLOP/s", (double) m.get("gflops")),
                        m.containsKey("layout") ? "  " + m.get("layout") : "");
            }
        }
        return 0;
    }

    private static double readAt(List<Map<String, Object>> memRead, int threads) {
        for (Map<String, Object> m : memRead) if ((int) m.get("threads") == threads) return (double) m.get("gbs");
        return (double) memRead.get(0).get("gbs");
    }

    /** gbs: weight bytes per ns; a GEMM (batch > 1) adds its GFLOP/s (2 x batch per weight, as the rows' bytes hold). */
    private Map<String, Object> row(GgmlType type, String backend, int threads, double gbs) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (type != null) m.put("type", type.name().toLowerCase());
        m.put("backend", backend);
        m.put("threads", threads);
        m.put("gbs", Math.round(gbs * 100) / 100.0);
        if (type != null && batch > 1) m.put("gflops", Math.round(gbs * 2.0 * batch * N_COLS / type.rowBytes(N_COLS) * 10) / 10.0);
        return m;
    }

    /** GB/s of {@code bytes} per run: best of repeated runs over the time budget, after one warm-up run. */
    private double measure(Runnable run, long bytes) {
        run.run();
        long budget = (long) (seconds * 1e9), start = System.nanoTime(), best = Long.MAX_VALUE;
        int runs = 0;
        while (runs < 3 || System.nanoTime() - start < budget) {
            long t0 = System.nanoTime();
            run.run();
            best = Math.min(best, System.nanoTime() - t0);
            if (++runs >= 1000) break;
        }
        return bytes / (double) best;
    }

    private static void fillFloats(MemorySegment s, long n, Random rnd) {
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
    }

    /** Valid blocks (sane scales) everywhere: a few distinct quantized rows repeated over the matrix. */
    private static void fillWeights(GgmlType type, MemorySegment w, int rows, Arena arena) {
        int distinct = 8;
        long rowBytes = type.rowBytes(N_COLS);
        MemorySegment src = arena.allocate((long) distinct * N_COLS * Float.BYTES, 64);
        fillFloats(src, (long) distinct * N_COLS, new Random(type.id()));
        MemorySegment q = arena.allocate(distinct * rowBytes, 64);
        try (Kernels k = new NativeKernels(1)) {
            k.quantize(type, q, src, distinct, N_COLS);
        }
        for (int r = 0; r < rows; r++) MemorySegment.copy(q, (r % distinct) * rowBytes, w, r * rowBytes, rowBytes);
    }
}
