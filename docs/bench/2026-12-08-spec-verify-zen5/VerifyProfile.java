import dev.panamax.Backend;
import dev.panamax.gguf.GgufFile;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.*;
import dev.panamax.tensor.GgmlType;
import java.lang.reflect.*;
import java.nio.file.Path;
import java.util.*;

/** The target's forward pass of R rows of one sequence (every row with logits: a verify), per kernel through a timing proxy. */
public class VerifyProfile {
    static final Map<String, long[]> times = new TreeMap<>();
    public static void main(String[] a) throws Exception {
        Path p = Path.of(a[0]);
        int threads = Integer.parseInt(a[1]);
        int reps = Integer.parseInt(a[2]);
        boolean proxy = a[3].equals("proxy");
        int maxR = Integer.parseInt(a[4]);
        GgufFile f = GgufFile.open(p);
        ModelWeights w = ModelWeights.load(f);
        Kernels real = KernelsProvider.create(Backend.NATIVE, threads);
        w.pack(real);
        Kernels k = real;
        if (proxy) {
            k = (Kernels) Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[]{Kernels.class}, (o, m, args) -> {
                long t0 = System.nanoTime();
                try { return m.invoke(real, args); } catch (InvocationTargetException e) { throw e.getCause(); }
                finally { long dt = System.nanoTime() - t0; String key = m.getName().startsWith("matmul") ? m.getName() + " " + args[2] + "x" + args[3] : m.getName(); long[] c = times.computeIfAbsent(key, x -> new long[2]); c[0] += dt; c[1]++; }
            });
        }
        int bs = 16, nBlocks = 32, maxTokens = 64;
        KvCache kv = w.newKvCache(nBlocks, bs, GgmlType.F16, GgmlType.F16);
        ForwardPass fp = w.newForward(k, maxTokens);
        ForwardBatch b = new ForwardBatch(maxTokens, 1, nBlocks, 8, w.vocabSize());
        int[] table = new int[nBlocks];
        for (int i = 0; i < nBlocks; i++) table[i] = i;
        int[] toks = new int[256];
        Random r = new Random(1);
        for (int i = 0; i < toks.length; i++) toks[i] = 10 + r.nextInt(1000);
        int start = 64, end = Math.min(200, w.trainedContextLength() - 8);
        // fill the cache up to end (prompt)
        for (int pos = 0; pos < end + maxR; pos += 32) { b.clear(); b.add(toks, pos, Math.min(32, end + maxR - pos), pos, table, bs, 1); fp.forward(b, kv); }
        if (!proxy) { // rows interleaved within each rep: drift hits every row count alike; medians of per-rep ratios
            double[][] us = new double[maxR + 1][reps];
            for (int rep = 0; rep < reps; rep++) {
                for (int R = 1; R <= maxR; R++) {
                    long total = 0; int n = 0;
                    for (int pos = start; pos < end; pos++) {
                        b.clear();
                        b.add(toks, pos, R, pos, table, bs, R == 1 ? 1 : 2);
                        long t0 = System.nanoTime();
                        fp.forward(b, kv);
                        int best = 0;
                        for (int i = 0; i < R; i++) best += real.argmax(b.logits(i), w.vocabSize());
                        total += System.nanoTime() - t0; n++;
                        if (best < 0) throw new AssertionError();
                    }
                    us[R][rep] = total / 1e3 / n;
                }
            }
            int skip = reps / 4; // warm-up reps
            for (int R = 1; R <= maxR; R++) {
                double[] t = java.util.Arrays.copyOfRange(us[R], skip, reps), ratio = new double[reps - skip];
                for (int i = skip; i < reps; i++) ratio[i - skip] = us[R][i] / us[1][i];
                java.util.Arrays.sort(t); java.util.Arrays.sort(ratio);
                System.out.printf("%s threads=%d rows=%d: pass median %.1f us (min %.1f), vs one row: median %.3fx (%.2f-%.2f) over %d reps%n",
                        p.getFileName(), threads, R, t[t.length / 2], t[0], ratio[ratio.length / 2], ratio[0], ratio[ratio.length - 1], t.length);
            }
            return;
        }
        for (int R = 1; R <= maxR; R++) {
            times.clear();
            long total = 0; int n = 0;
            for (int rep = 0; rep < reps; rep++) {
                for (int pos = start; pos < end; pos++) {
                    b.clear();
                    b.add(toks, pos, R, pos, table, bs, R == 1 ? 1 : 2);
                    long t0 = System.nanoTime();
                    fp.forward(b, kv);
                    int best = 0;
                    for (int i = 0; i < R; i++) best += real.argmax(b.logits(i), w.vocabSize());
                    long dt = System.nanoTime() - t0;
                    if (rep >= reps / 2) { total += dt; n++; }
                    if (best < 0) throw new AssertionError();
                    if (rep == reps / 2 - 1 && pos == end - 1) times.clear();
                }
            }
            System.out.printf("%s threads=%d proxy=%s rows=%d: pass %.1f us (mean over %d)%n", p.getFileName(), threads, proxy, R, total / 1e3 / n, n);
            if (proxy) {
                long sum = 0;
                for (long[] c : times.values()) sum += c[0];
                for (var e : times.entrySet()) System.out.printf("  %-22s %8.2f us/pass  %6.2f calls/pass  %6.2f us/call%n", e.getKey(),
                        e.getValue()[0] / 1e3 / n, (double) e.getValue()[1] / n, e.getValue()[0] / 1e3 / e.getValue()[1]);
                System.out.printf("  kernels total %.1f us/pass%n", sum / 1e3 / n);
            }
        }
    }
}
