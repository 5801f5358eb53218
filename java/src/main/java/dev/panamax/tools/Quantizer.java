package dev.panamax.tools;

import dev.panamax.gguf.GgmlTypeTable;
import dev.panamax.gguf.GgufArray;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.Backend;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Quantizes a GGUF model as llama.cpp's {@code llama_model_quantize} does, to the same bytes: metadata copied with
 * {@code general.quantization_version} and {@code general.file_type} set (moved last, as gguf's set does), tensors in
 * llama.cpp's order (by layer, then name), each tensor's type from llama.cpp's mix rules ({@link QuantMix}), data
 * aligned to 32 bytes. Streams tensor by tensor: memory holds one slab of rows of one tensor, quantized by
 * {@code threads} workers. Which types Panamax can write is one table ({@link #WRITABLE}); a mix that resolves to
 * another type fails before anything is written, naming the type.
 *
 * <pre>{@code
 * new Quantizer(QuantFileType.Q4_K_M).threads(4).quantize(in, out);
 * }</pre>
 */
public final class Quantizer {

    /** The types Panamax quantizes to (ggml's reference rounding, bytes as llama.cpp's): one entry per type. */
    static final Set<GgmlType> WRITABLE = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K,
            GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);

    /** Called after each tensor is decided (before data) and written; for progress bars. */
    public interface Progress {
        void tensor(int done, int count, String name, String fromType, String toType, long bytesOut);
    }

    /** What was written: tensors, bytes in and out, warnings (fallbacks, requantization). */
    public record Result(int tensors, long bytesIn, long bytesOut, long elements, List<String> warnings) {
        public double bitsPerWeightIn() {
            return bytesIn * 8.0 / elements;
        }

        public double bitsPerWeightOut() {
            return bytesOut * 8.0 / elements;
        }
    }

    private static final int ALIGNMENT = 32;
    private static final long SLAB_FLOATS = 16L << 20; // rows per slab: ~64 MB of floats

    private final QuantFileType ftype;
    private boolean pure;
    private int threads;
    private Backend backend;
    private Imatrix imatrix;
    private Progress progress = (d, c, n, f, t, b) -> { };

    public Quantizer(QuantFileType ftype) {
        this.ftype = Objects.requireNonNull(ftype, "ftype");
    }

    /** Every quantized tensor gets the mix's default type (llama-quantize --pure): no per-tensor rules. */
    public Quantizer pure(boolean on) {
        this.pure = on;
        return this;
    }

    /** Worker threads (<= 0: one per CPU). */
    public Quantizer threads(int n) {
        this.threads = n;
        return this;
    }

    /** Kernels backend for the conversions (null: automatic). */
    public Quantizer backend(Backend b) {
        this.backend = b;
        return this;
    }

    /** An importance matrix (llama-quantize --imatrix): weights the rounding error of each column. */
    public Quantizer imatrix(Imatrix m) {
        this.imatrix = m;
        return this;
    }

    public Quantizer progress(Progress p) {
        this.progress = Objects.requireNonNull(p, "progress");
        return this;
    }

    /** One output tensor: its source, the dims written, the type chosen. */
    private record Plan(GgufTensor src, long[] ne, int type) {
    }

    /**
     * Quantizes {@code in} into {@code out} (written to a temporary file beside it, then moved into place).
     *
     * @throws IllegalArgumentException when out is in, or the mix needs a type Panamax cannot write
     */
    public Result quantize(Path in, Path out) throws IOException {
        if (Files.exists(out) && Files.isSameFile(in, out) || in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("output " + out + " is the input file: refusing to overwrite the model being read");
        }
        try (GgufFile src = GgufFile.open(in)) {
            List<String> warnings = new ArrayList<>();
            List<Plan> plans = plan(src, warnings);
            GgufWriter w = new GgufWriter();
            copyMetadata(src.metadata(), w);
            int threadCount = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
            long[] bytesOut = {0};
            long bytesIn = 0, elements = 0;
            try (Workers workers = new Workers(threadCount, backend)) {
                int[] done = {0};
                for (Plan p : plans) {
                    bytesIn += p.src().byteSize();
                    elements += p.src().elementCount();
                    w.addTensor(p.src().name(), p.type(), p.ne(), sink -> {
                        write(p, workers, sink);
                        long size = bytesOutOf(p);
                        bytesOut[0] += size;
                        progress.tensor(++done[0], plans.size(), p.src().name(), p.src().typeName(), GgmlTypeTable.name(p.type()), size);
                    });
                }
                Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
                try {
                    w.write(tmp);
                    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            return new Result(plans.size(), bytesIn, bytesOut[0], elements, List.copyOf(warnings));
        }
    }

    private static long bytesOutOf(Plan p) {
        long n = 1;
        for (long d : p.ne()) n *= d;
        return n / GgmlTypeTable.blockSize(p.type()) * GgmlTypeTable.typeSize(p.type());
    }

    /** The types of every tensor, checked against what Panamax can read and write, before any byte is written. */
    private List<Plan> plan(GgufFile src, List<String> warnings) throws GgufFormatException {
        GgufMetadata md = src.metadata();
        if (src.alignment() != ALIGNMENT) {
            throw new IllegalArgumentException("input alignment " + src.alignment() + ": llama.cpp's quantizer writes "
                    + ALIGNMENT + "-byte aligned data under a copied general.alignment, so only " + ALIGNMENT + " is supported");
        }
        String arch = md.getString("general.architecture");
        int nLayer = md.getInt(arch + ".block_count");
        int nExpert = md.getInt(arch + ".expert_count", 0);
        int nHead = firstInt(md, arch + ".attention.head_count", 0);
        int nHeadKv = firstInt(md, arch + ".attention.head_count_kv", nHead);
        int nGqa = nHeadKv == 0 ? 0 : nHead / nHeadKv;
        boolean is70B = nLayer == 80 && (arch.equals("qwen2") || arch.equals("deci") || arch.equals("olmo")
                || arch.equals("llama") && nHead != nHeadKv) || nLayer == 68 && arch.equals("jais2");

        List<GgufTensor> order = new ArrayList<>(src.tensors());
        order.sort(Comparator.comparingInt((GgufTensor t) -> layerOf(t.name())).thenComparing(GgufTensor::name));
        List<QuantMix.TensorInfo> infos = new ArrayList<>();
        for (GgufTensor t : order) infos.add(new QuantMix.TensorInfo(t.name(), trimDims(t.shape()), t.typeId()));

        QuantMix mix = new QuantMix(new QuantMix.ModelInfo(arch, nLayer, nExpert, nGqa, is70B), ftype, pure, imatrix != null);
        int[] types = mix.decide(infos);
        warnings.addAll(mix.warnings);
        List<Plan> plans = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            GgufTensor t = order.get(i);
            int to = types[i];
            plans.add(new Plan(t, infos.get(i).ne(), to));
            if (to == t.typeId()) continue; // copied as is
            String name = GgmlTypeTable.name(to);
            GgmlType target = GgmlType.ofId(to);
            if (target == null || !WRITABLE.contains(target)) {
                missing.add("type " + name + " not yet supported (tensor " + t.name() + ")");
                continue;
            }
            if (t.type() == null || !WRITABLE.contains(t.type())) {
                throw new IllegalArgumentException("tensor " + t.name() + ": cannot convert from " + t.typeName() + " (no decoder)");
            }
            if (t.type().isQuantized()) {
                warnings.add(t.name() + ": requantizing from " + t.typeName() + " to " + name + " (quality is lost twice)");
            }
            if (mix.requiresImatrix(t.name(), to) && imatrix == null) {
                throw new IllegalArgumentException("this quantization requires an importance matrix (tensor " + t.name() + ", type " + name + ")");
            }
            if (imatrix != null && imatrix.get(t.name()) != null && WeightedQuants.usesImatrix(target) && !WeightedQuants.supports(target)) {
                missing.add("type " + name + " with an importance matrix not yet supported (tensor " + t.name() + ")");
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(ftype.name() + ": " + missing.get(0)
                    + (missing.size() > 1 ? " and " + (missing.size() - 1) + " more tensors" : ""));
        }
        return plans;
    }

    private static int firstInt(GgufMetadata md, String key, int dflt) throws GgufFormatException {
        if (!md.has(key)) return dflt;
        if (md.typeOf(key) == GgufValueType.ARRAY) {
            int[] a = md.getIntArray(key);
            return a.length == 0 ? dflt : a[0];
        }
        return md.getInt(key);
    }

    /** As llama.cpp's sscanf(name, "blk.%d.", &l): the number after "blk.", else -1. */
    static int layerOf(String name) {
        if (!name.startsWith("blk.")) return -1;
        int i = 4, end = i;
        if (end < name.length() && (name.charAt(end) == '-' || name.charAt(end) == '+')) end++;
        while (end < name.length() && Character.isDigit(name.charAt(end))) end++;
        try {
            return Integer.parseInt(name.substring(i, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** ggml_n_dims: trailing dims of 1 are not written (at least one dim). */
    static long[] trimDims(long[] shape) {
        int n = shape.length;
        while (n > 1 && shape[n - 1] == 1) n--;
        return n == 0 ? new long[] {1} : Arrays.copyOf(shape, n);
    }

    /** The input's metadata in order, then quantization_version and file_type (moved last), split keys dropped. */
    private void copyMetadata(GgufMetadata md, GgufWriter w) {
        Set<String> reset = Set.of("general.quantization_version", "general.file_type", "split.no", "split.count",
                "split.tensors.count");
        for (String k : md.keys()) if (!reset.contains(k)) w.put(k, md.typeOf(k), md.get(k));
        w.putUInt32("general.quantization_version", 2); // GGML_QNT_VERSION
        w.putUInt32("general.file_type", ftype.id());
        if (imatrix != null) {
            if (imatrix.file() != null) w.putString("quantize.imatrix.file", truncate(imatrix.file(), 127));
            if (!imatrix.datasets().isEmpty()) w.putString("quantize.imatrix.dataset", truncate(imatrix.datasets().get(0), 127));
            w.putUInt32("quantize.imatrix.entries_count", imatrix.size());
            if (imatrix.chunkCount() > 0) w.putUInt32("quantize.imatrix.chunks_count", imatrix.chunkCount());
        }
    }

    /** llama-quantize passes these as 128-byte kv overrides: strncpy(.., 127). */
    private static String truncate(String s, int bytes) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return b.length <= bytes ? s : new String(b, 0, bytes, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Writes one tensor: copied when its type stays, else converted slab by slab across the workers. */
    private void write(Plan p, Workers workers, GgufWriter.DataSink sink) throws IOException {
        GgufTensor t = p.src();
        if (p.type() == t.typeId()) {
            sink.write(t.data());
            return;
        }
        GgmlType from = t.type(), to = GgmlType.ofId(p.type());
        int n = (int) p.ne()[0];
        long rowsTotal = t.elementCount() / n;
        long rowsPerExpert = p.ne().length > 1 ? p.ne()[1] : 1;
        float[] im = imatrix == null ? null : imatrix.get(t.name());
        if (im != null && im.length != n * (rowsTotal / rowsPerExpert)) {
            if (!QuantMix.category(t.name()).equals(QuantMix.Category.TOKEN_EMBD)) {
                throw new IllegalArgumentException("imatrix size " + im.length + " is different from tensor size "
                        + n * (rowsTotal / rowsPerExpert) + " for " + t.name());
            }
            im = null;
        }
        long slabRows = Math.max(1, Math.min(rowsTotal, SLAB_FLOATS / n));
        long srcRow = from.rowBytes(n), dstRow = to.rowBytes(n);
        try (Arena arena = Arena.ofShared()) { // the workers write into it
            MemorySegment dst = arena.allocate(slabRows * dstRow, 64);
            for (long r0 = 0; r0 < rowsTotal; r0 += slabRows) {
                long rows = Math.min(slabRows, rowsTotal - r0);
                MemorySegment in = t.data().asSlice(r0 * srcRow, rows * srcRow);
                MemorySegment outSlab = dst.asSlice(0, rows * dstRow);
                workers.convert(from, to, in, outSlab, r0, rows, n, rowsPerExpert, im);
                sink.write(outSlab);
            }
        }
    }

    /** Worker threads, each with its own single-threaded kernels and float buffer. */
    private static final class Workers implements AutoCloseable {
        private static final int CHUNK_ROWS_MIN = 16; // rows per task: enough to amortize the downcalls
        private final ExecutorService pool;
        private final Kernels[] kernels;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment[] floats;
        private final int n;

        Workers(int n, Backend backend) {
            this.n = n;
            this.pool = Executors.newFixedThreadPool(n, r -> {
                Thread th = new Thread(r, "quantize");
                th.setDaemon(true);
                return th;
            });
            this.kernels = new Kernels[n];
            this.floats = new MemorySegment[n];
            for (int i = 0; i < n; i++) kernels[i] = KernelsProvider.create(backend, 1);
        }

        /** Rows [r0, r0+rows) of the tensor: in (source type) to out (target type); worker i takes every n-th chunk. */
        void convert(GgmlType from, GgmlType to, MemorySegment in, MemorySegment out, long r0, long rows, int cols,
                     long rowsPerExpert, float[] imatrix) throws IOException {
            long chunk = Math.max(CHUNK_ROWS_MIN, Math.max(1, (32 * 512) / cols));
            long srcRow = from.rowBytes(cols), dstRow = to.rowBytes(cols);
            List<Future<?>> fs = new ArrayList<>();
            for (int wi = 0; wi < n; wi++) {
                final int w = wi;
                fs.add(pool.submit(() -> {
                    MemorySegment buf = buffer(w, chunk * cols);
                    for (long c = w * chunk; c < rows; c += n * chunk) {
                        // a part never crosses an expert boundary: each expert has its own imatrix slice
                        long cr = Math.min(chunk, rows - c);
                        for (long done = 0; done < cr; ) {
                            long g = r0 + c + done;
                            long part = Math.min(cr - done, rowsPerExpert - g % rowsPerExpert);
                            MemorySegment fl = buf.asSlice(0, 4L * part * cols);
                            kernels[w].dequantize(from, fl, in.asSlice((c + done) * srcRow, part * srcRow), (int) part, cols);
                            MemorySegment o = out.asSlice((c + done) * dstRow, part * dstRow);
                            if (imatrix != null && WeightedQuants.usesImatrix(to)) {
                                WeightedQuants.quantize(to, o, fl, (int) part, cols, imatrix, (int) (g / rowsPerExpert) * cols);
                            } else {
                                kernels[w].quantize(to, o, fl, (int) part, cols);
                            }
                            done += part;
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new IOException(e.getCause());
                }
            }
        }

        private MemorySegment buffer(int w, long floatsNeeded) {
            MemorySegment b = floats[w];
            if (b == null || b.byteSize() < 4 * floatsNeeded) {
                synchronized (arena) {
                    b = arena.allocate(4 * floatsNeeded, 64);
                }
                floats[w] = b;
            }
            return b;
        }

        @Override
        public void close() {
            pool.shutdownNow();
            for (Kernels k : kernels) k.close();
            arena.close();
        }
    }
}
