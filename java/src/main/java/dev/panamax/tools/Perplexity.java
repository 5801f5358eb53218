package dev.panamax.tools;

import dev.panamax.Model;
import dev.panamax.Session;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Perplexity as llama.cpp's {@code llama-perplexity} computes it: the text tokenized once (BOS as the model asks), cut
 * into chunks of {@code nCtx} tokens (the tail that does not fill one is dropped), each chunk run from an empty cache
 * with its first token replaced by BOS (when the vocabulary adds one), and only its second half scored: the logits at
 * positions {@code first = nCtx/2 .. nCtx-2} predict tokens {@code first+1 .. nCtx-1}. PPL = exp(mean NLL), its
 * error {@code PPL * sqrt(var(NLL) / (count - 1))}.
 *
 * <p>KL divergence: a base run saves the log-probabilities of every scored position ({@link #saveBase}); a run of another
 * model of the same vocabulary on the same text compares against them ({@link #compareTo}) with llama.cpp's statistics
 * (mean/median/percentiles of KL(base || model), top-1 agreement, ΔPPL with its uncertainty). The base file is
 * Panamax's own: a header, the tokens, then float32 log-probabilities [positions][vocab].
 */
public final class Perplexity {

    /** After each chunk: its number (1-based), the running PPL estimate. */
    public record Chunk(int index, double ppl) {
    }

    private final Model model;
    private final int nCtx;
    private Path saveBase, compareBase;

    public Perplexity(Model model, int nCtx) {
        if (nCtx < 4) throw new IllegalArgumentException("context of " + nCtx + " tokens is too small for perplexity");
        this.model = model;
        this.nCtx = nCtx;
    }

    /** Saves the base model's log-probabilities here (for a later {@link #compareTo}). */
    public Perplexity saveBase(Path file) {
        this.saveBase = file;
        return this;
    }

    /** Compares against a saved base run: the result gets {@link KlStats}. */
    public Perplexity compareTo(Path file) {
        this.compareBase = file;
        return this;
    }

    /** The text's tokens as llama.cpp's perplexity takes them (add_special = true, parse_special = false). */
    public int[] tokenize(String text) {
        return model.tokenizer().encode(text);
    }

    /** Runs over at most {@code maxChunks} chunks (<= 0: all). */
    public Result run(int[] tokens, int maxChunks, Consumer<Chunk> onChunk) throws IOException {
        if (tokens.length < 2 * nCtx) {
            throw new IllegalArgumentException("need at least " + 2 * nCtx + " tokens for a context of " + nCtx + "; the text has " + tokens.length);
        }
        int nChunk = tokens.length / nCtx;
        if (maxChunks > 0 && maxChunks < nChunk) nChunk = maxChunks;
        int first = nCtx / 2, scored = nCtx - 1 - first, vocab = model.vocabSize();
        Integer bos = model.tokenizer().addsBos() ? model.tokenizer().bos() : null;
        KlAccumulator kl = null;
        BaseReader base = null;
        BaseWriter save = null;
        double nll = 0, nll2 = 0;
        long count = 0;
        float[] logits = new float[(nCtx - first) * vocab];
        float[] logProbs = new float[vocab], baseLogProbs = new float[vocab];
        long t0 = System.nanoTime();
        try (Session s = model.newSession(nCtx)) {
            if (compareBase != null) {
                base = new BaseReader(compareBase, nCtx, vocab, Arrays.copyOf(tokens, nChunk * nCtx));
                kl = new KlAccumulator((long) nChunk * scored);
            }
            if (saveBase != null) save = new BaseWriter(saveBase, nCtx, vocab, Arrays.copyOf(tokens, nChunk * nCtx));
            int[] chunk = new int[nCtx];
            for (int c = 0; c < nChunk; c++) {
                System.arraycopy(tokens, c * nCtx, chunk, 0, nCtx);
                if (bos != null) chunk[0] = bos;
                s.promptLogits(chunk, first, logits);
                for (int k = first; k < nCtx - 1; k++) {
                    int target = tokens[c * nCtx + k + 1];
                    int at = (k - first) * vocab;
                    double lp = logSoftmax(logits, at, vocab, target, logProbs);
                    nll -= lp;
                    nll2 += lp * lp;
                    count++;
                    if (save != null) save.write(logProbs);
                    if (base != null) {
                        base.read(baseLogProbs);
                        kl.add(logProbs, baseLogProbs, target);
                    }
                }
                onChunk.accept(new Chunk(c + 1, Math.exp(nll / count)));
            }
        } finally {
            if (save != null) save.close();
            if (base != null) base.close();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double mean = nll / count, ppl = Math.exp(mean), var = nll2 / count - mean * mean;
        double err = var > 0 ? Math.sqrt(var / (count - 1)) * ppl : 0;
        return new Result(tokens.length, nChunk, nCtx, count, ppl, err, (long) nChunk * nCtx / seconds,
                kl == null ? null : kl.stats());
    }

    /** log p(target) under softmax(logits[at, at+n)) in double, as llama-perplexity; fills out with every log p. */
    static double logSoftmax(float[] logits, int at, int n, int target, float[] out) {
        float max = logits[at];
        for (int i = 1; i < n; i++) if (logits[at + i] > max) max = logits[at + i];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp((double) logits[at + i] - max);
        double lse = Math.log(sum) + max;
        for (int i = 0; i < n; i++) out[i] = (float) (logits[at + i] - lse);
        return (double) logits[at + target] - max - Math.log(sum);
    }

    /** The run: PPL and its error as llama.cpp prints them, tokens/s of the forward passes, KL statistics if compared. */
    public record Result(int tokens, int chunks, int nCtx, long scored, double ppl, double pplError, double tokensPerSecond,
                         KlStats kl) {
    }

    /** llama-perplexity --kl-divergence's summary (KL(base || model) per position, in nats). */
    public record KlStats(long count, double pplModel, double pplModelError, double pplBase, double pplBaseError,
                          double logPplCorrelation, double logPplRatio, double logPplRatioError,
                          double pplRatio, double pplRatioError, double pplDiff, double pplDiffError,
                          double klMean, double klMeanError, double klMax, double klP999, double klP99, double klP95,
                          double klP90, double klMedian, double klP10, double klP5, double klP1, double klMin,
                          double rmsDeltaP, double rmsDeltaPError, double sameTop, double sameTopError) {
    }

    /** llama.cpp's kl_divergence_result and its summary (perplexity.cpp, log_softmax and kl_divergence). */
    static final class KlAccumulator {
        double sumNll, sumNll2, sumNllBase, sumNllBase2, sumNllNllBase, sumKld, sumKld2, sumPDiff, sumPDiff2, sumPDiff4;
        long sameTop, count;
        final float[] klds;

        KlAccumulator(long capacity) {
            klds = new float[Math.toIntExact(capacity)];
        }

        void add(float[] logProbs, float[] base, int tok) {
            int imax = 0, imaxBase = 0;
            for (int i = 1; i < logProbs.length; i++) {
                if (logProbs[i] > logProbs[imax]) imax = i;
                if (base[i] > base[imaxBase]) imaxBase = i;
            }
            double nll = -logProbs[tok], nllBase = -base[tok];
            sumNll += nll;
            sumNll2 += nll * nll;
            sumNllBase += nllBase;
            sumNllBase2 += nllBase * nllBase;
            sumNllNllBase += nll * nllBase;
            double kld = 0;
            for (int i = 0; i < logProbs.length; i++) {
                if (base[i] > -16f) kld += Math.exp(base[i]) * ((double) base[i] - logProbs[i]); // llama.cpp's cut-off
            }
            sumKld += kld;
            sumKld2 += kld * kld;
            klds[(int) count++] = (float) kld;
            if (imax == imaxBase) sameTop++;
            double pDiff = Math.exp(-nll) - Math.exp(-nllBase);
            sumPDiff += pDiff;
            sumPDiff2 += pDiff * pDiff;
            sumPDiff4 += pDiff * pDiff * pDiff * pDiff;
        }

        private double[] meanUnc(double sum, double sum2) {
            if (count < 1) return new double[] {0, 0};
            double f = sum / count, df = sum2 / count - f * f;
            return new double[] {f, df > 0 && count > 10 ? Math.sqrt(df / (count - 1)) : 0};
        }

        private double cov(double a, double b, double ab) {
            if (count < 10) return 0;
            return (ab / count - (a / count) * (b / count)) / (count - 1);
        }

        KlStats stats() {
            float[] v = Arrays.copyOf(klds, (int) count);
            Arrays.sort(v);
            double[] lp = meanUnc(sumNll, sumNll2), lb = meanUnc(sumNllBase, sumNllBase2);
            double ppl = Math.exp(lp[0]), pplU = ppl * lp[1], pplB = Math.exp(lb[0]), pplBU = pplB * lb[1];
            double c = cov(sumNll, sumNllBase, sumNllNllBase);
            double cor = c / (lp[1] * lb[1]);
            double ratio = lp[0] - lb[0], ratioU = Math.sqrt(lp[1] * lp[1] + lb[1] * lb[1] - 2 * c);
            double pplCov = ppl * pplB * c;
            double[] kl = meanUnc(sumKld, sumKld2), mse = meanUnc(sumPDiff2, sumPDiff4);
            double rms = Math.sqrt(mse[0]), rmsU = 0.5 / rms * mse[1];
            double same = (double) sameTop / count;
            double median = v.length % 2 == 0 ? 0.5f * (v[v.length / 2] + v[v.length / 2 - 1]) : v[v.length / 2];
            return new KlStats(count, ppl, pplU, pplB, pplBU, cor, ratio, ratioU, Math.exp(ratio), Math.exp(ratio) * ratioU,
                    ppl - pplB, Math.sqrt(pplU * pplU + pplBU * pplBU - 2 * pplCov), kl[0], kl[1], v[v.length - 1],
                    pct(v, 0.999f), pct(v, 0.99f), pct(v, 0.95f), pct(v, 0.90f), median, pct(v, 0.10f), pct(v, 0.05f),
                    pct(v, 0.01f), v[0], rms, rmsU, same, Math.sqrt(same * (1 - same) / (count - 1)));
        }

        /** llama.cpp's percentile: linear between the two nearest sorted values. */
        static double pct(float[] v, float fraction) {
            float p = fraction * (v.length - 1);
            int ip = (int) p;
            p -= ip;
            return (1 - p) * v[ip] + p * v[Math.min(ip + 1, v.length - 1)];
        }
    }

    private static final long MAGIC = 0x31304c4b584d5050L; // "PPMXKL01" little-endian

    /** Writes the base file: magic, nCtx, vocab, token count, tokens, then log-probs rows. */
    private static final class BaseWriter implements AutoCloseable {
        private final FileChannel ch;
        private final ByteBuffer row;

        BaseWriter(Path file, int nCtx, int vocab, int[] tokens) throws IOException {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            ByteBuffer h = ByteBuffer.allocate(8 + 12 + 4 * tokens.length).order(ByteOrder.LITTLE_ENDIAN);
            h.putLong(MAGIC).putInt(nCtx).putInt(vocab).putInt(tokens.length);
            for (int t : tokens) h.putInt(t);
            h.flip();
            while (h.hasRemaining()) ch.write(h);
            row = ByteBuffer.allocate(4 * vocab).order(ByteOrder.LITTLE_ENDIAN);
        }

        void write(float[] logProbs) throws IOException {
            row.clear();
            row.asFloatBuffer().put(logProbs);
            row.position(0).limit(4 * logProbs.length);
            while (row.hasRemaining()) ch.write(row);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    private static final class BaseReader implements AutoCloseable {
        private final FileChannel ch;
        private final ByteBuffer row;

        BaseReader(Path file, int nCtx, int vocab, int[] tokens) throws IOException {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            ByteBuffer h = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
            readFully(h);
            if (h.getLong() != MAGIC) throw new IOException(file + " is not a Panamax KL-divergence base file (--kl-divergence-base writes one)");
            int c = h.getInt(), v = h.getInt(), n = h.getInt();
            if (c != nCtx) throw new IllegalArgumentException(file + " was made with -c " + c + ", this run uses " + nCtx);
            if (v != vocab) throw new IllegalArgumentException(file + " has a vocabulary of " + v + ", this model " + vocab);
            if (n < tokens.length) throw new IllegalArgumentException(file + " covers " + n + " tokens, this run " + tokens.length);
            ByteBuffer tb = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
            readFully(tb);
            for (int i = 0; i < tokens.length; i++) {
                if (tb.getInt() != tokens[i]) throw new IllegalArgumentException(file + ": token " + i + " differs: another text or tokenizer");
            }
            row = ByteBuffer.allocate(4 * vocab).order(ByteOrder.LITTLE_ENDIAN);
        }

        void read(float[] out) throws IOException {
            row.clear();
            readFully(row);
            row.asFloatBuffer().get(out);
        }

        private void readFully(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) if (ch.read(b) < 0) throw new IOException("KL-divergence base file ends early");
            b.flip();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
