package dev.panamax.tools;

import dev.panamax.Backend;
import dev.panamax.Model;
import dev.panamax.gguf.GgmlTypeTable;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Structured pruning of a GGUF model, measured on calibration text: whole routed experts of MoE layers
 * ({@code deepseek2}, {@code qwen3moe}), intermediate channels of dense SwiGLU feed-forwards ({@code llama},
 * {@code qwen2}, {@code qwen3}, the dense layers of {@code deepseek2}) and whole KV groups of GQA attention (the
 * llama family). Contract:
 * <ul>
 * <li>Statistics come from one calibration pass ({@link ImatrixCollector#calibrate}, the imatrix's pass) and are summed
 * in double ({@link PruneStatistics}). Experts are ranked per layer by REAP's saliency (mean over the tokens routed to
 * the expert of routing weight × ||expert output||; or by routing frequency or weight mass), channels by mean |h_j| of
 * the intermediate h = SiLU(gate·x)·(up·x) × the L2 norm of ffn_down's column j, KV groups by the sum over their query
 * heads of mean ||head output|| × Frobenius norm of the head's attn_output columns. The lowest are dropped, the same
 * count in every layer (llama.cpp reads expert_count, head counts and, for these architectures, feed_forward_length as
 * one value for all layers). {@link #random} drops the same counts chosen at random: the baseline.</li>
 * <li>The file is rewritten tensor by tensor in the input's order, metadata and alignment: router rows (and the
 * sigmoid routing's exp_probs_b), stacked ffn_*_exps matrices, gate/up rows and down columns, Q/K/V rows and output
 * columns are selected; expert_count, feed_forward_length, head_count(_kv) updated. Selecting rows copies bytes;
 * selecting columns of a quantized tensor re-quantizes its rows (same type when the new width is a multiple of its
 * block, else llama.cpp's fallback, as {@link Quantizer}). Widths are kept a multiple of the output type's block
 * (256 for K-quants, 32 otherwise). With nothing dropped the output is byte-identical to the input.</li>
 * <li>{@link #type} quantizes the pruned file in the same call ({@link Quantizer}, llama.cpp's mix rules).</li>
 * <li>Every argument and the model are checked before a byte is written; the output is written beside the target
 * and moved into place, so a failure leaves no file. The input is never overwritten.</li>
 * </ul>
 * Not supported (clear errors): MLA attention heads (deepseek2), group-limited routing (expert_group_count > 1), the
 * width of deepseek2's shared experts (tied to expert_feed_forward_length), fused QKV tensors and per-layer head counts.
 * The MTP layer of a deepseek2 file is not run by normal decoding, so no calibration reaches it: its experts are ranked
 * by the Frobenius norm of their down projection (said in the report). Dropping experts equals masking them (never
 * selected) exactly for sigmoid routing and for softmax routing with normalized weights; under softmax without
 * normalization (DeepSeek-V2) the kept experts' weights grow, as the softmax runs over fewer of them.
 *
 * <pre>{@code
 * Pruner.Result r = new Pruner().expertsDropFraction(0.25).prune(in, out, Files.readString(calib));
 * }</pre>
 */
public final class Pruner {

    /** How experts are ranked. */
    public enum ExpertScore { REAP, FREQUENCY, MASS }

    /** What was kept of one layer's experts, channels or KV groups, and the scores it was chosen by. */
    public record LayerChoice(String kind, int layer, int before, int after, int[] kept, double[] scores, String score) {
        /** The share of the layer's total score that was dropped. */
        public double droppedScoreFraction() {
            double all = 0, keptSum = 0;
            for (double s : scores) all += s;
            for (int k : kept) keptSum += scores[k];
            return all == 0 ? 0 : (all - keptSum) / all;
        }
    }

    /** What was written. */
    public record Result(String arch, boolean random, long seed, int calibrationTokens, int chunks, int nCtx,
                         List<LayerChoice> layers, long bytesIn, long bytesOut, long secondsCalibration,
                         List<String> warnings) {

        /** The report as one JSON object. */
        public String toJson() {
            StringBuilder s = new StringBuilder("{");
            s.append("\"arch\":\"").append(arch).append("\",\"mode\":\"").append(random ? "random" : "importance").append('"');
            if (random) s.append(",\"seed\":").append(seed);
            s.append(",\"calibration_tokens\":").append(calibrationTokens).append(",\"chunks\":").append(chunks)
                    .append(",\"n_ctx\":").append(nCtx).append(",\"bytes_in\":").append(bytesIn).append(",\"bytes_out\":").append(bytesOut)
                    .append(",\"layers\":[");
            for (int i = 0; i < layers.size(); i++) {
                LayerChoice c = layers.get(i);
                if (i > 0) s.append(',');
                s.append("{\"kind\":\"").append(c.kind()).append("\",\"layer\":").append(c.layer()).append(",\"before\":")
                        .append(c.before()).append(",\"after\":").append(c.after()).append(",\"score\":\"").append(c.score())
                        .append("\",\"dropped_score_fraction\":").append(num(c.droppedScoreFraction()));
                boolean[] kept = new boolean[c.before()];
                for (int k : c.kept()) kept[k] = true;
                s.append(",\"dropped\":[");
                boolean first = true;
                for (int j = 0; j < c.before(); j++) {
                    if (kept[j]) continue;
                    s.append(first ? "" : ",").append(j);
                    first = false;
                }
                s.append("]");
                if (!c.kind().equals("channels")) { // channel scores are many; experts' and groups' are worth reading
                    s.append(",\"scores\":[");
                    for (int j = 0; j < c.scores().length; j++) s.append(j > 0 ? "," : "").append(num(c.scores()[j]));
                    s.append("]");
                }
                s.append('}');
            }
            s.append("],\"warnings\":[");
            for (int i = 0; i < warnings.size(); i++) s.append(i > 0 ? "," : "").append('"').append(warnings.get(i).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
            return s.append("]}").toString();
        }

        private static String num(double v) {
            return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null";
        }
    }

    /** Tokens a calibration text must give (after BOS): fewer say nothing about what matters. */
    static final int MIN_CALIBRATION_TOKENS = 16;

    private int expertsKeep = -1;
    private double expertsDropFraction = Double.NaN;
    private double ffnKeepFraction = 1;
    private int headsKeep = -1;
    private Long randomSeed;
    private ExpertScore expertScore = ExpertScore.REAP;
    private QuantFileType type;
    private int ctx, maxChunks, threads;
    private Backend backend;
    private Consumer<String> log = s -> { };

    /** Keep this many experts per MoE layer (exclusive with {@link #expertsDropFraction}). */
    public Pruner expertsKeep(int n) {
        this.expertsKeep = n;
        return this;
    }

    /** Drop this fraction of each MoE layer's experts (rounded to the nearest count). */
    public Pruner expertsDropFraction(double f) {
        this.expertsDropFraction = f;
        return this;
    }

    /** Keep this fraction of each dense feed-forward's channels (rounded to a multiple of the output type's block). */
    public Pruner ffnKeepFraction(double f) {
        this.ffnKeepFraction = f;
        return this;
    }

    /** Keep this many query heads per layer, in whole KV groups (a multiple of head_count / head_count_kv). */
    public Pruner headsKeep(int n) {
        this.headsKeep = n;
        return this;
    }

    /** Choose what to drop at random with this seed (the same counts): the baseline for the importance scores. */
    public Pruner random(long seed) {
        this.randomSeed = seed;
        return this;
    }

    public Pruner expertScore(ExpertScore s) {
        this.expertScore = Objects.requireNonNull(s, "score");
        return this;
    }

    /** Quantize the pruned model to this file type in the same call (null: keep the input's types). */
    public Pruner type(QuantFileType t) {
        this.type = t;
        return this;
    }

    /** Calibration chunk length (<= 0: min(512, context_length)). */
    public Pruner contextLength(int n) {
        this.ctx = n;
        return this;
    }

    /** At most this many calibration chunks (<= 0: all). */
    public Pruner maxChunks(int n) {
        this.maxChunks = n;
        return this;
    }

    /** Threads of the calibration pass and the quantizer (<= 0: one per CPU). */
    public Pruner threads(int n) {
        this.threads = n;
        return this;
    }

    public Pruner backend(Backend b) {
        this.backend = b;
        return this;
    }

    /** Progress lines. */
    public Pruner log(Consumer<String> l) {
        this.log = Objects.requireNonNull(l, "log");
        return this;
    }

    /** The shape of what will be pruned, checked against the file before anything runs. */
    private record Plan(String arch, int nTrunk, int nExpert, int nUsed, int keepExperts, List<Integer> moeLayers,
                        int ff, int keepFf, List<Integer> denseLayers, int nHead, int nKv, int hdK, int hdV, int keepHeads,
                        List<Integer> attnLayers) {
        boolean experts() {
            return keepExperts != nExpert;
        }

        boolean channels() {
            return keepFf != ff;
        }

        boolean heads() {
            return keepHeads != nHead;
        }
    }

    /**
     * Prunes {@code in} into {@code out} with statistics from {@code calibrationText}.
     *
     * @throws IllegalArgumentException for arguments the model cannot take (one line, nothing written)
     */
    public Result prune(Path in, Path out, String calibrationText) throws IOException {
        checkArguments();
        Objects.requireNonNull(calibrationText, "calibration text");
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize()) || Files.exists(out) && Files.isSameFile(in, out)) {
            throw new IllegalArgumentException("output " + out + " is the input file: refusing to overwrite the model being read");
        }
        Plan plan;
        long bytesIn;
        try (GgufFile src = GgufFile.open(in)) {
            plan = plan(src);
            bytesIn = Files.size(in);
        }
        // calibration: the whole model once, watching the weights whose inputs rank what may be dropped
        Set<String> chWeights = new HashSet<>(), exWeights = new HashSet<>(), hdWeights = new HashSet<>();
        if (plan.channels()) for (int l : plan.denseLayers()) chWeights.add("blk." + l + ".ffn_down.weight");
        if (plan.experts()) for (int l : plan.moeLayers()) exWeights.add("blk." + l + ".ffn_down_exps.weight");
        if (plan.heads()) for (int l : plan.attnLayers()) hdWeights.add("blk." + l + ".attn_output.weight");
        PruneStatistics stats = new PruneStatistics(chWeights, exWeights, hdWeights, Math.max(1, plan.hdV()));
        int nTokens, chunks, nCtx;
        long t0 = System.nanoTime();
        try (Model m = Model.load(in, Model.Options.defaults().withBackend(backend).withThreads(threads).withPackWeights(false))) {
            int[] tokens = m.tokenizer().encode(calibrationText);
            nTokens = tokens.length - (m.tokenizer().addsBos() && tokens.length > 0 && tokens[0] == m.tokenizer().bos() ? 1 : 0);
            if (nTokens < MIN_CALIBRATION_TOKENS) {
                throw new IllegalArgumentException("the calibration text gives " + nTokens + " tokens; at least "
                        + MIN_CALIBRATION_TOKENS + " are needed");
            }
            nCtx = Math.min(ctx > 0 ? ctx : 512, m.trainedContextLength());
            nCtx = Math.min(nCtx, tokens.length);
            if (plan.experts() || plan.channels() || plan.heads()) {
                chunks = ImatrixCollector.calibrate(m, tokens, nCtx, maxChunks, stats, c -> log.accept("calibration chunk " + c));
            } else {
                chunks = 0; // nothing to rank
            }
        }
        long secs = (System.nanoTime() - t0) / 1_000_000_000L;

        List<String> warnings = new ArrayList<>();
        List<LayerChoice> choices = new ArrayList<>();
        Path tmp = out.resolveSibling(out.getFileName() + ".prune.tmp");
        Path tmpQ = out.resolveSibling(out.getFileName() + ".tmp");
        try (GgufFile src = GgufFile.open(in); Kernels k = KernelsProvider.create(backend, 1)) {
            Random rnd = randomSeed == null ? null : new Random(randomSeed);
            Map<Integer, int[]> keepExperts = new LinkedHashMap<>(), keepChannels = new LinkedHashMap<>(), keepHeads = new LinkedHashMap<>();
            if (plan.experts()) {
                for (int l : plan.moeLayers()) {
                    String down = "blk." + l + ".ffn_down_exps.weight";
                    PruneStatistics.Experts e = stats.experts.get(down);
                    double[] score = new double[plan.nExpert()];
                    String name;
                    if (l >= plan.nTrunk() || e == null) {
                        name = "down_norm (no calibration reaches this layer)";
                        if (l < plan.nTrunk()) warnings.add("layer " + l + ": no token reached its experts; ranked by weight norms");
                        double[] cn = rowNorms(k, src.tensor(down));
                        int rowsPer = cn.length / plan.nExpert();
                        for (int x = 0; x < plan.nExpert(); x++) {
                            double s = 0;
                            for (int r = 0; r < rowsPer; r++) s += cn[x * rowsPer + r] * cn[x * rowsPer + r];
                            score[x] = Math.sqrt(s);
                        }
                    } else {
                        name = expertScore.name().toLowerCase(Locale.ROOT);
                        for (int x = 0; x < plan.nExpert(); x++) {
                            score[x] = switch (expertScore) {
                                case REAP -> e.reap(x);
                                case FREQUENCY -> e.count[x];
                                case MASS -> e.mass[x];
                            };
                        }
                    }
                    int[] kept = choose(score, plan.keepExperts(), rnd);
                    keepExperts.put(l, kept);
                    choices.add(new LayerChoice("experts", l, plan.nExpert(), kept.length, kept, score, rnd != null ? "random" : name));
                }
            }
            if (plan.channels()) {
                for (int l : plan.denseLayers()) {
                    String down = "blk." + l + ".ffn_down.weight";
                    PruneStatistics.Channels c = stats.channels.get(down);
                    if (c == null) throw new IllegalStateException("calibration did not reach " + down);
                    double[] cn = columnNorms(k, src.tensor(down));
                    double[] score = new double[plan.ff()];
                    for (int j = 0; j < score.length; j++) score[j] = c.meanAbs(j) * cn[j];
                    int[] kept = choose(score, plan.keepFf(), rnd);
                    keepChannels.put(l, kept);
                    choices.add(new LayerChoice("channels", l, plan.ff(), kept.length, kept, score, rnd != null ? "random" : "mean_abs_x_down_norm"));
                }
            }
            if (plan.heads()) {
                int group = plan.nHead() / plan.nKv();
                for (int l : plan.attnLayers()) {
                    String wo = "blk." + l + ".attn_output.weight";
                    PruneStatistics.Heads h = stats.heads.get(wo);
                    if (h == null) throw new IllegalStateException("calibration did not reach " + wo);
                    double[] cn = columnNorms(k, src.tensor(wo));
                    double[] score = new double[plan.nKv()];
                    for (int hd = 0; hd < plan.nHead(); hd++) {
                        double s = 0;
                        for (int j = 0; j < plan.hdV(); j++) s += cn[hd * plan.hdV() + j] * cn[hd * plan.hdV() + j];
                        score[hd / group] += h.meanNorm(hd) * Math.sqrt(s);
                    }
                    int[] kept = choose(score, plan.keepHeads() / group, rnd);
                    keepHeads.put(l, kept);
                    choices.add(new LayerChoice("kv_groups", l, plan.nKv(), kept.length, kept, score, rnd != null ? "random" : "mean_norm_x_output_norm"));
                }
            }
            for (LayerChoice c : choices) {
                log.accept(String.format(Locale.ROOT, "layer %d %s: %d -> %d (%.1f%% of the %s score dropped)", c.layer(), c.kind(),
                        c.before(), c.after(), 100 * c.droppedScoreFraction(), c.score()));
            }

            GgufWriter w = new GgufWriter();
            copyMetadata(src.metadata(), plan, w);
            for (GgufTensor t : src.tensors()) addTensor(w, k, t, plan, keepExperts, keepChannels, keepHeads, warnings);
            Path target = type == null ? tmpQ : tmp;
            w.write(target);
            if (type == null) {
                Files.move(tmpQ, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } else {
                Quantizer.Result q = new Quantizer(type).threads(threads).backend(backend).quantize(tmp, out);
                warnings.addAll(q.warnings());
            }
        } finally {
            Files.deleteIfExists(tmp);
            Files.deleteIfExists(tmpQ);
        }
        return new Result(plan.arch(), randomSeed != null, randomSeed == null ? 0 : randomSeed, nTokens, chunks, nCtx,
                List.copyOf(choices), bytesIn, Files.size(out), secs, List.copyOf(warnings));
    }

    private void checkArguments() {
        if (expertsKeep != -1 && !Double.isNaN(expertsDropFraction)) {
            throw new IllegalArgumentException("give either an expert count to keep or a fraction to drop, not both");
        }
        if (expertsKeep != -1 && expertsKeep < 1) throw new IllegalArgumentException("experts to keep must be at least 1, got " + expertsKeep);
        if (!Double.isNaN(expertsDropFraction) && !(expertsDropFraction >= 0 && expertsDropFraction < 1)) {
            throw new IllegalArgumentException("expert drop fraction must be in [0, 1), got " + expertsDropFraction);
        }
        if (!(ffnKeepFraction > 0 && ffnKeepFraction <= 1)) {
            throw new IllegalArgumentException("FFN keep fraction must be in (0, 1], got " + ffnKeepFraction);
        }
        if (headsKeep != -1 && headsKeep < 1) throw new IllegalArgumentException("heads to keep must be at least 1, got " + headsKeep);
    }

    /** Reads the architecture and the counts to keep; every impossible request fails here. */
    private Plan plan(GgufFile src) throws IOException {
        GgufMetadata md = src.metadata();
        String arch = md.getString("general.architecture");
        boolean llamaLike = switch (arch) {
            case "llama", "qwen2", "qwen3", "qwen3moe" -> true;
            case "deepseek2" -> false;
            default -> throw new IllegalArgumentException("prune supports llama, qwen2, qwen3, qwen3moe and deepseek2; this model is " + arch);
        };
        String p = arch + ".";
        int nBlocks = md.getInt(p + "block_count");
        int nTrunk = nBlocks - md.getInt(p + "nextn_predict_layers", 0);
        List<Integer> moe = new ArrayList<>(), dense = new ArrayList<>(), attn = new ArrayList<>();
        for (int l = 0; l < nBlocks; l++) {
            String b = "blk." + l + ".";
            if (src.tensor(b + "ffn_gate_inp.weight") != null) moe.add(l);
            if (src.tensor(b + "ffn_down.weight") != null) dense.add(l);
            if (src.tensor(b + "attn_output.weight") != null) attn.add(l);
        }
        // experts
        int nExpert = md.getInt(p + "expert_count", 0), nUsed = md.getInt(p + "expert_used_count", 0);
        int keepE = nExpert;
        boolean wantExperts = expertsKeep != -1 || !Double.isNaN(expertsDropFraction);
        if (wantExperts) {
            if (moe.isEmpty() || nExpert == 0) throw new IllegalArgumentException("the model has no routed experts to prune (" + arch + ")");
            keepE = expertsKeep != -1 ? expertsKeep : (int) Math.round(nExpert * (1 - expertsDropFraction));
            if (keepE > nExpert) throw new IllegalArgumentException("cannot keep " + keepE + " experts: the model has " + nExpert);
            if (keepE < 1) throw new IllegalArgumentException("dropping every expert (" + nExpert + " of " + nExpert + ") leaves nothing to route to");
            if (keepE < nUsed) {
                throw new IllegalArgumentException("cannot keep " + keepE + " experts: every token uses " + nUsed + " (expert_used_count)");
            }
            if (keepE != nExpert && md.getInt(p + "expert_group_count", 1) > 1) {
                throw new IllegalArgumentException("group-limited routing (expert_group_count " + md.getInt(p + "expert_group_count", 1)
                        + ") is not supported by prune yet");
            }
            for (int l : moe) {
                for (String s : new String[] {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"}) {
                    GgufTensor t = src.tensor("blk." + l + "." + s);
                    if (t == null || t.shape().length != 3 || t.shape()[2] != nExpert) {
                        throw new IllegalArgumentException("layer " + l + ": " + s + " is missing or not " + nExpert + " stacked experts");
                    }
                }
            }
        }
        // dense channels
        int ff = 0, keepF = 0;
        if (ffnKeepFraction < 1) {
            if (dense.isEmpty()) throw new IllegalArgumentException("the model has no dense feed-forward layers (" + arch + "): --ffn-keep-frac does not apply");
            if (md.typeOf(p + "feed_forward_length") == GgufValueType.ARRAY) {
                throw new IllegalArgumentException(p + "feed_forward_length is per layer: prune writes one width for all layers only");
            }
            ff = md.getInt(p + "feed_forward_length");
            int block = 1;
            for (int l : dense) {
                GgufTensor d = src.tensor("blk." + l + ".ffn_down.weight");
                if (d.shape().length != 2 || d.shape()[0] != ff) throw new IllegalArgumentException("layer " + l + ": ffn_down is not " + ff + " wide");
                block = Math.max(block, outBlock(d));
            }
            keepF = (int) Math.round(ffnKeepFraction * ff / block) * block;
            if (ff < 2 * block) {
                throw new IllegalArgumentException("feed-forward width " + ff + " has no smaller multiple of the " + block + "-value block");
            }
            keepF = Math.max(block, Math.min(ff, keepF));
        } else if (!dense.isEmpty()) {
            ff = keepF = md.getInt(p + "feed_forward_length");
        }
        // heads
        int nHead = 0, nKv = 0, hdK = 0, hdV = 0, keepH = 0;
        if (headsKeep != -1) {
            if (!llamaLike) throw new IllegalArgumentException("attention heads of " + arch + " (multi-head latent attention) cannot be pruned yet");
            if (md.typeOf(p + "attention.head_count") == GgufValueType.ARRAY || md.has(p + "attention.head_count_kv")
                    && md.typeOf(p + "attention.head_count_kv") == GgufValueType.ARRAY) {
                throw new IllegalArgumentException("per-layer head counts are not supported by prune");
            }
            nHead = md.getInt(p + "attention.head_count");
            nKv = md.getInt(p + "attention.head_count_kv", nHead);
            int group = nHead / nKv;
            if (headsKeep > nHead) throw new IllegalArgumentException("cannot keep " + headsKeep + " heads: the model has " + nHead);
            if (headsKeep % group != 0) {
                throw new IllegalArgumentException("heads are dropped in whole KV groups of " + group + ": " + headsKeep + " is not a multiple of " + group);
            }
            for (int l : attn) {
                String b = "blk." + l + ".";
                if (src.tensor(b + "attn_qkv.weight") != null) throw new IllegalArgumentException("fused attn_qkv tensors are not supported by prune");
                GgufTensor q = src.tensor(b + "attn_q.weight"), kk = src.tensor(b + "attn_k.weight"), v = src.tensor(b + "attn_v.weight");
                GgufTensor o = src.tensor(b + "attn_output.weight");
                if (q == null || kk == null || v == null) throw new IllegalArgumentException("layer " + l + ": attn_q/k/v missing");
                hdK = (int) (q.shape()[1] / nHead);
                hdV = (int) (o.shape()[0] / nHead);
                if (q.shape()[1] != (long) hdK * nHead || kk.shape()[1] != (long) hdK * nKv || v.shape()[1] != (long) hdV * nKv) {
                    throw new IllegalArgumentException("layer " + l + ": Q/K/V shapes do not match " + nHead + " heads over " + nKv + " KV heads");
                }
            }
            keepH = headsKeep;
        }
        return new Plan(arch, nTrunk, nExpert, nUsed, keepE, moe, ff, keepF, dense, nHead, nKv, hdK, hdV, keepH, attn);
    }

    /** The block a pruned width must be a multiple of: the output type's (--type's default, else the tensor's), at least 32. */
    private int outBlock(GgufTensor t) {
        int b = type != null ? GgmlTypeTable.blockSize(type.defaultType()) : GgmlTypeTable.blockSize(t.typeId());
        return Math.max(32, b);
    }

    /** The input's metadata in order, the changed counts in place (same value types). */
    private static void copyMetadata(GgufMetadata md, Plan plan, GgufWriter w) {
        String p = plan.arch() + ".";
        for (String key : md.keys()) {
            Object v = md.get(key);
            if (plan.experts() && key.equals(p + "expert_count")) v = (long) plan.keepExperts();
            if (plan.channels() && key.equals(p + "feed_forward_length")) v = (long) plan.keepFf();
            if (plan.heads() && key.equals(p + "attention.head_count")) v = (long) plan.keepHeads();
            if (plan.heads() && key.equals(p + "attention.head_count_kv")) v = (long) (plan.keepHeads() / (plan.nHead() / plan.nKv()));
            w.put(key, md.typeOf(key), v);
        }
        if (plan.heads()) {
            // llama.cpp (and Panamax) derive the head size from embedding_length / head_count when these are absent:
            // with fewer heads that would change it, so they are written (after the input's keys)
            if (!md.has(p + "attention.key_length")) w.putUInt32(p + "attention.key_length", plan.hdK());
            if (!md.has(p + "attention.value_length")) w.putUInt32(p + "attention.value_length", plan.hdV());
            if (!md.has(p + "rope.dimension_count")) w.putUInt32(p + "rope.dimension_count", plan.hdK());
        }
    }

    /** Adds one tensor to the output: as is, or with rows along its last dim / columns selected. */
    private void addTensor(GgufWriter w, Kernels k, GgufTensor t, Plan plan, Map<Integer, int[]> experts,
                           Map<Integer, int[]> channels, Map<Integer, int[]> heads, List<String> warnings) {
        int l = Quantizer.layerOf(t.name());
        String n = l < 0 ? t.name() : t.name().substring(t.name().indexOf('.', 4) + 1);
        int[] ex = experts.get(l), ch = channels.get(l), kvg = heads.get(l);
        if (ex != null && (n.startsWith("ffn_gate_inp.") || n.startsWith("exp_probs_b.") || n.contains("_exps."))) {
            selectLast(w, t, ex, warnings);
        } else if (ch != null && (n.startsWith("ffn_gate.") || n.startsWith("ffn_up."))) {
            selectLast(w, t, ch, warnings);
        } else if (ch != null && n.equals("ffn_down.weight")) {
            selectColumns(w, k, t, ch, warnings);
        } else if (kvg != null && (n.startsWith("attn_q.") || n.startsWith("attn_k.") || n.startsWith("attn_v.") || n.equals("attn_output.weight"))) {
            int group = plan.nHead() / plan.nKv();
            boolean query = n.startsWith("attn_q.") || n.startsWith("attn_output.");
            int hd = n.startsWith("attn_v.") || n.startsWith("attn_output.") ? plan.hdV() : plan.hdK();
            int[] units = query ? expand(kvg, group) : kvg; // the query heads of the kept groups, or the groups' KV heads
            int[] idx = expand(units, hd);
            if (n.equals("attn_output.weight")) selectColumns(w, k, t, idx, warnings);
            else selectLast(w, t, idx, warnings);
        } else {
            w.addTensor(t.name(), t.typeId(), t.shape(), sink -> sink.write(t.data()));
        }
    }

    /** Units [u*size, (u+1)*size) of every unit u, in order. */
    private static int[] expand(int[] units, int size) {
        int[] r = new int[units.length * size];
        for (int i = 0; i < units.length; i++) for (int j = 0; j < size; j++) r[i * size + j] = units[i] * size + j;
        return r;
    }

    /** Keeps indices {@code kept} of the tensor's last dim (rows, or stacked matrices); of a 1-D tensor, its elements. */
    private void selectLast(GgufWriter w, GgufTensor t, int[] kept, List<String> warnings) {
        long[] shape = t.shape();
        if (shape.length == 1) {
            selectColumns(w, null, t, kept, warnings);
            return;
        }
        int last = shape.length - 1;
        long unitBytes = t.byteSize() / shape[last];
        long[] ns = shape.clone();
        ns[last] = kept.length;
        if (kept.length == shape[last]) {
            w.addTensor(t.name(), t.typeId(), shape, sink -> sink.write(t.data()));
            return;
        }
        w.addTensor(t.name(), t.typeId(), ns, sink -> {
            for (int i : kept) sink.write(t.data().asSlice(i * unitBytes, unitBytes));
        });
    }

    /**
     * Keeps columns {@code kept} of every row: F32/F16/BF16 elements are copied, a quantized row is dequantized and
     * re-quantized (same type when the new width is a multiple of its block, else llama.cpp's fallback type).
     */
    private void selectColumns(GgufWriter w, Kernels kernels, GgufTensor t, int[] kept, List<String> warnings) {
        long[] shape = t.shape();
        int cols = (int) shape[0];
        if (kept.length == cols) {
            w.addTensor(t.name(), t.typeId(), shape, sink -> sink.write(t.data()));
            return;
        }
        GgmlType from = t.type();
        if (from == null || !Quantizer.WRITABLE.contains(from)) {
            throw new IllegalArgumentException("tensor " + t.name() + ": columns of " + t.typeName() + " cannot be rewritten (no quantizer)");
        }
        int to = from.isQuantized() ? QuantMix.fallbackType(from.id(), kept.length) : from.id();
        if (to != from.id()) {
            warnings.add(t.name() + ": " + kept.length + " columns are not a multiple of " + from.blockSize() + ": written as " + GgmlTypeTable.name(to));
        }
        GgmlType toType = GgmlType.ofId(to);
        if (toType == null || !Quantizer.WRITABLE.contains(toType)) {
            throw new IllegalArgumentException("tensor " + t.name() + ": fallback type " + GgmlTypeTable.name(to) + " cannot be written");
        }
        long[] ns = shape.clone();
        ns[0] = kept.length;
        long rows = t.elementCount() / cols;
        long srcRow = from.rowBytes(cols), dstRow = toType.rowBytes(kept.length);
        w.addTensor(t.name(), to, ns, sink -> {
            try (Arena a = Arena.ofConfined(); Kernels k = kernels != null ? null : KernelsProvider.javaKernels("prune", 1)) {
                Kernels kk = kernels != null ? kernels : k;
                int slab = (int) Math.max(1, Math.min(rows, (4 << 20) / cols));
                MemorySegment fl = a.allocate(4L * slab * cols, 64), sel = a.allocate(4L * slab * kept.length, 64);
                MemorySegment dst = a.allocate(dstRow * slab, 64);
                for (long r0 = 0; r0 < rows; r0 += slab) {
                    int nr = (int) Math.min(slab, rows - r0);
                    kk.dequantize(from, fl, t.data().asSlice(r0 * srcRow, nr * srcRow), nr, cols);
                    for (int r = 0; r < nr; r++) {
                        for (int j = 0; j < kept.length; j++) {
                            sel.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * kept.length + j, fl.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + kept[j]));
                        }
                    }
                    MemorySegment o = dst.asSlice(0, nr * dstRow);
                    kk.quantize(toType, o, sel, nr, kept.length);
                    sink.write(o);
                }
            }
        });
    }

    /** The L2 norm of every column of a 2-D weight (rows × cols as ggml stores it). */
    static double[] columnNorms(Kernels k, GgufTensor t) {
        double[] sq = new double[(int) t.shape()[0]];
        forEachRow(k, t, (r, row) -> {
            for (int j = 0; j < sq.length; j++) {
                double x = row.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                sq[j] += x * x;
            }
        });
        for (int j = 0; j < sq.length; j++) sq[j] = Math.sqrt(sq[j]);
        return sq;
    }

    /** The L2 norm of every row (of all matrices of a stacked tensor, in order). */
    static double[] rowNorms(Kernels k, GgufTensor t) {
        int cols = (int) t.shape()[0];
        double[] n = new double[(int) (t.elementCount() / cols)];
        forEachRow(k, t, (r, row) -> {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                double x = row.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                s += x * x;
            }
            n[(int) r] = Math.sqrt(s);
        });
        return n;
    }

    private interface RowVisitor {
        void row(long r, MemorySegment floats);
    }

    private static void forEachRow(Kernels k, GgufTensor t, RowVisitor v) {
        int cols = (int) t.shape()[0];
        long rows = t.elementCount() / cols;
        GgmlType type = t.type();
        if (type == null) throw new IllegalArgumentException("tensor " + t.name() + " of type " + t.typeName() + " cannot be read");
        long rb = type.rowBytes(cols);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fl = a.allocate(4L * cols, 64);
            for (long r = 0; r < rows; r++) {
                k.dequantize(type, fl, t.data().asSlice(r * rb, rb), 1, cols);
                v.row(r, fl);
            }
        }
    }

    /**
     * The {@code keep} indices to keep, ascending: the highest scores (ties to the lower index; NaN lowest), or with
     * {@code rnd} a uniformly random subset.
     */
    static int[] choose(double[] score, int keep, Random rnd) {
        Integer[] order = new Integer[score.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        if (rnd != null) {
            List<Integer> l = new ArrayList<>(Arrays.asList(order));
            java.util.Collections.shuffle(l, rnd);
            order = l.toArray(new Integer[0]);
        } else {
            Arrays.sort(order, Comparator.comparingDouble((Integer i) -> Double.isNaN(score[i]) ? Double.NEGATIVE_INFINITY : score[i])
                    .reversed().thenComparingInt(i -> i));
        }
        int[] kept = new int[keep];
        for (int i = 0; i < keep; i++) kept[i] = order[i];
        Arrays.sort(kept);
        return kept;
    }
}
