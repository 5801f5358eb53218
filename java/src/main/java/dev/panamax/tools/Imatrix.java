package dev.panamax.tools;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An importance matrix in llama.cpp's GGUF imatrix format (what {@code llama-imatrix} writes and
 * {@code llama-quantize --imatrix} reads): for each weight W a tensor {@code W.in_sum2} [n_cols, n_mat] of summed
 * squared activations entering W (n_mat = experts for MoE weights, else 1) and {@code W.counts} [1, n_mat] of the rows
 * summed; keys {@code general.type = "imatrix"}, {@code imatrix.datasets}, {@code imatrix.chunk_count},
 * {@code imatrix.chunk_size}. {@link #get} gives the per-column means as llama-quantize normalizes them (sum / count;
 * 1 for an expert that saw no row).
 */
public final class Imatrix {

    /** Sums and counts of one weight. */
    public record Entry(int cols, double[] sums, long[] counts) {
    }

    private final Map<String, Entry> entries;
    private final List<String> datasets;
    private final int chunkCount, chunkSize;
    private final String file;

    public Imatrix(Map<String, Entry> entries, List<String> datasets, int chunkCount, int chunkSize, String file) {
        this.entries = Collections.unmodifiableMap(new TreeMap<>(entries));
        this.datasets = List.copyOf(datasets);
        this.chunkCount = chunkCount;
        this.chunkSize = chunkSize;
        this.file = file;
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public List<String> datasets() {
        return datasets;
    }

    public int chunkCount() {
        return chunkCount;
    }

    public int chunkSize() {
        return chunkSize;
    }

    /** The file it was read from (null when computed here). */
    public String file() {
        return file;
    }

    public int size() {
        return entries.size();
    }

    /** Per-column mean squared activation of the weight, [n_mat][cols] flattened, or null when absent. */
    public float[] get(String weight) {
        Entry e = entries.get(weight);
        if (e == null) return null;
        float[] v = new float[e.sums().length];
        int c = e.cols();
        for (int m = 0; m < e.counts().length; m++) {
            float count = (float) e.counts()[m];
            for (int j = 0; j < c; j++) v[m * c + j] = count > 0 ? (float) e.sums()[m * c + j] / count : 1f;
        }
        return v;
    }

    /** Writes the GGUF imatrix file as llama-imatrix does: keys, then tensors sorted by weight name. */
    public void write(Path out) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.type", "imatrix");
        w.putArray("imatrix.datasets", dev.panamax.gguf.GgufValueType.STRING, datasets.toArray(new String[0]));
        w.putUInt32("imatrix.chunk_count", chunkCount);
        w.putUInt32("imatrix.chunk_size", chunkSize);
        try (Arena arena = Arena.ofConfined()) {
            for (Map.Entry<String, Entry> me : entries.entrySet()) {
                Entry e = me.getValue();
                int nMat = e.counts().length;
                MemorySegment sums = arena.allocate(4L * e.sums().length, 64);
                for (int i = 0; i < e.sums().length; i++) sums.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) e.sums()[i]);
                MemorySegment counts = arena.allocate(4L * nMat, 64);
                for (int i = 0; i < nMat; i++) counts.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) e.counts()[i]);
                // ggml_n_dims: a dense weight's [cols, 1] is written as 1-D
                w.addTensor(me.getKey() + ".in_sum2", GgmlType.F32, nMat == 1 ? new long[] {e.cols()} : new long[] {e.cols(), nMat}, sums);
                w.addTensor(me.getKey() + ".counts", GgmlType.F32, nMat == 1 ? new long[] {1} : new long[] {1, nMat}, counts);
            }
            w.write(out);
        }
    }

    /** Reads a GGUF imatrix file (the legacy .dat format is not read). */
    public static Imatrix read(Path path) throws IOException {
        try (GgufFile f = GgufFile.open(path)) {
            GgufMetadata md = f.metadata();
            if (!md.has("imatrix.datasets") || !md.has("imatrix.chunk_count") || !md.has("imatrix.chunk_size")) {
                throw new GgufFormatException(path + ": missing imatrix metadata (imatrix.datasets, chunk_count, chunk_size)");
            }
            List<String> datasets = List.of(md.getStringArray("imatrix.datasets"));
            Map<String, Entry> entries = new TreeMap<>();
            for (GgufTensor t : f.tensors()) {
                if (!t.name().endsWith(".in_sum2")) continue;
                String name = t.name().substring(0, t.name().length() - ".in_sum2".length());
                GgufTensor c = f.tensor(name + ".counts");
                if (c == null) throw new GgufFormatException(path + ": mismatched sums and counts for " + name);
                if (t.type() != GgmlType.F32 || c.type() != GgmlType.F32) throw new GgufFormatException(path + ": sums and counts for " + name + " must be F32");
                int nMat = (int) c.elementCount();
                if (nMat == 0 || t.elementCount() % nMat != 0) throw new GgufFormatException(path + ": " + name + ": sums do not split into " + nMat + " matrices");
                double[] sums = new double[(int) t.elementCount()];
                for (int i = 0; i < sums.length; i++) sums[i] = t.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                long[] counts = new long[nMat];
                for (int i = 0; i < nMat; i++) counts[i] = Math.round(c.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
                entries.put(name, new Entry(sums.length / nMat, sums, counts));
            }
            for (GgufTensor t : f.tensors()) {
                if (t.name().endsWith(".counts") && !entries.containsKey(t.name().substring(0, t.name().length() - 7))) {
                    throw new GgufFormatException(path + ": mismatched sums and counts for " + t.name());
                }
            }
            if (entries.isEmpty()) throw new GgufFormatException(path + ": no imatrix data");
            return new Imatrix(entries, datasets, md.getInt("imatrix.chunk_count"), md.getInt("imatrix.chunk_size"), path.toString());
        }
    }

    /** For an Imatrix built by a collector. */
    static List<String> listOf(String s) {
        List<String> l = new ArrayList<>();
        if (s != null) l.add(s);
        return l;
    }
}
