package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The weights of a {@code deepseek2} model as views of the mapped GGUF file (zero copy), every shape and type checked
 * against the {@link DeepseekConfig} at load. Names and layouts are llama.cpp's: per head, {@code attn_k_b} holds
 * W_UK transposed (kv_lora rows of nope values: what folds the key decompression into the query) and
 * {@code attn_v_b} holds W_UV (v_head rows of kv_lora values); experts are stacked ({@code ffn_*_exps}). A file
 * with {@code nextn_predict_layers} (DeepSeek-V3's multi-token prediction) has its MTP layers loaded and checked into
 * {@link #nextn}; normal decoding ({@link DeepseekForward#forward}) runs the trunk only, and
 * {@link DeepseekForward#forwardMtp} runs an MTP layer.
 */
public final class DeepseekWeights extends TransformerWeights<DeepseekConfig> {

    /**
     * One block. Attention: Q either in one matrix {@code wq} or through the low-rank {@code wqA → qANorm → wqB};
     * {@code wkvA} gives the latent (kv_lora) and the shared RoPE key part; {@code kB[h]}/{@code vB[h]} are head h's
     * absorption matrices. Feed-forward: dense ({@code gate/up/down}) in the leading layers, else MoE with router
     * {@code router} (n_expert rows), optional selection bias {@code expProbsB}, stacked experts and shared experts.
     * {@code kBs}/{@code vBs} are the same per-head matrices as one stacked operand ({@link Kernels#matmulStacked}).
     */
    public record Layer(Weight attnNorm, Weight wq, Weight wqA, Weight qANorm, Weight wqB, Weight wkvA, Weight kvANorm,
                        Weight[] kB, Weight[] vB, Stacked kBs, Stacked vBs, Weight wo, Weight ffnNorm,
                        Weight gate, Weight up, Weight down,
                        Weight router, Weight expProbsB, Weight gateExps, Weight upExps, Weight downExps,
                        Weight gateShexp, Weight upShexp, Weight downShexp) {
        public boolean moe() {
            return router != null;
        }
    }

    /**
     * A multi-token-prediction layer (llama.cpp's {@code blk.N.nextn.*}, N ≥ the trunk's layers): row i combines the
     * trunk's last hidden state h_i (before the final norm) with the embedding of token t_(i+1),
     * {@code x = ehProj · [enorm(embed t_(i+1)) ; hnorm(h_i)]}, runs the deepseek2 block {@code layer} (its own
     * attention cache), and predicts t_(i+2) through {@code headNorm} and {@code head}. {@code embed}, {@code headNorm}
     * and {@code head} are the file's nextn.embed_tokens / shared_head_norm / shared_head_head, or when absent the
     * trunk's token_embd / output_norm / output, as llama.cpp falls back.
     */
    public record Mtp(Layer layer, Weight ehProj, Weight enorm, Weight hnorm, Weight embed, Weight headNorm, Weight head) {}

    /**
     * nMat matrices of rows x cols of {@code type}, matrix m starting at byte m · matBytes of data (matBytes may exceed
     * one matrix: per-head slices of a larger tensor), for {@link Kernels#matmulStacked}.
     */
    public record Stacked(GgmlType type, int nMat, int rows, int cols, long matBytes, MemorySegment data) {}

    public final Layer[] layers;
    /** The MTP layers (empty when the file has none); not part of normal decoding. */
    public final Mtp[] nextn;

    private DeepseekWeights(GgufFile file, DeepseekConfig c) throws GgufFormatException {
        super(file, c);
        Arena derived = Arena.ofAuto(); // weights made at load (older attn_kv_b layout only), freed with the last view
        layers = new Layer[c.nLayer()];
        for (int l = 0; l < c.nLayer(); l++) layers[l] = loadLayer(file, c, l, derived);
        nextn = new Mtp[c.nNextn()];
        for (int i = 0; i < nextn.length; i++) nextn[i] = loadMtp(file, c, c.nLayer() + i, derived);
    }

    private Mtp loadMtp(GgufFile file, DeepseekConfig c, int l, Arena derived) throws GgufFormatException {
        int dim = c.dim();
        String b = "blk." + l + ".nextn.";
        Layer layer = loadLayer(file, c, l, derived); // MoE: l >= the trunk's layers >= the dense ones
        Weight eh = Weight.matrix(Weight.require(file, b + "eh_proj.weight"), dim, 2 * dim);
        Weight enorm = Weight.vector(Weight.require(file, b + "enorm.weight"), dim);
        Weight hnorm = Weight.vector(Weight.require(file, b + "hnorm.weight"), dim);
        var e = file.tensor(b + "embed_tokens.weight");
        Weight embed = e == null ? tokenEmbd : Weight.matrix(e, c.vocabSize(), dim);
        Weight headNorm = Weight.optionalVector(file, b + "shared_head_norm.weight", dim);
        var h = file.tensor(b + "shared_head_head.weight");
        Weight head = h == null ? output : Weight.matrix(h, c.vocabSize(), dim);
        return new Mtp(layer, eh, enorm, hnorm, embed, headNorm == null ? outputNorm : headNorm, head);
    }

    public static DeepseekWeights load(GgufFile file) throws GgufFormatException {
        return new DeepseekWeights(file, DeepseekConfig.fromMetadata(file.metadata(), vocabSize(file)));
    }

    private static Layer loadLayer(GgufFile file, DeepseekConfig c, int l, Arena derived) throws GgufFormatException {
        int dim = c.dim(), nHead = c.nHead(), qHead = c.headDimNope() + c.headDimRope();
        String b = "blk." + l + ".";
        Weight wq = null, wqA = null, qANorm = null, wqB = null;
        if (file.tensor(b + "attn_q_a.weight") != null) {
            if (c.qLora() <= 0) throw new GgufFormatException(b + "attn_q_a.weight present but deepseek2.attention.q_lora_rank is not set");
            wqA = Weight.matrix(file.tensor(b + "attn_q_a.weight"), c.qLora(), dim);
            qANorm = Weight.vector(Weight.require(file, b + "attn_q_a_norm.weight"), c.qLora());
            wqB = Weight.matrix(Weight.require(file, b + "attn_q_b.weight"), nHead * qHead, c.qLora());
        } else {
            wq = Weight.matrix(Weight.require(file, b + "attn_q.weight"), nHead * qHead, dim);
        }
        Weight wkvA = Weight.matrix(Weight.require(file, b + "attn_kv_a_mqa.weight"), c.cacheRow(), dim);
        Weight kvANorm = Weight.vector(Weight.require(file, b + "attn_kv_a_norm.weight"), c.kvLora());
        Weight[] kB = new Weight[nHead], vB = new Weight[nHead];
        Stacked kBs, vBs;
        if (c.splitKvB()) {
            // ggml shapes: attn_k_b [nope, kv_lora, n_head], attn_v_b [kv_lora, v_head, n_head]
            Weight kb = Weight.stacked(Weight.require(file, b + "attn_k_b.weight"), nHead, c.kvLora(), c.headDimNope());
            Weight vb = Weight.stacked(Weight.require(file, b + "attn_v_b.weight"), nHead, c.headDimV(), c.kvLora());
            for (int h = 0; h < nHead; h++) {
                kB[h] = kb.slice(h * c.kvLora(), c.kvLora());
                vB[h] = vb.slice(h * c.headDimV(), c.headDimV());
            }
            kBs = new Stacked(kb.type(), nHead, c.kvLora(), c.headDimNope(), kB[0].data().byteSize(), kb.data());
            vBs = new Stacked(vb.type(), nHead, c.headDimV(), c.kvLora(), vB[0].data().byteSize(), vb.data());
        } else {
            Weight kvB = Weight.matrix(Weight.require(file, b + "attn_kv_b.weight"), nHead * (c.headDimNope() + c.headDimV()),
                    c.kvLora());
            kBs = splitKvB(kvB, c, kB, vB, derived);
            // W_UV of head h: rows [h·(nope + v_head) + nope, +v_head) of attn_kv_b, so heads are nope + v_head rows apart
            long rb = kvB.type().rowBytes(c.kvLora());
            vBs = new Stacked(kvB.type(), nHead, c.headDimV(), c.kvLora(), rb * (c.headDimNope() + c.headDimV()),
                    kvB.data().asSlice(rb * c.headDimNope()));
        }
        Weight wo = Weight.matrix(Weight.require(file, b + "attn_output.weight"), dim, nHead * c.headDimV());
        Weight ffnNorm = Weight.vector(Weight.require(file, b + "ffn_norm.weight"), dim);
        Weight gate = null, up = null, down = null, router = null, bias = null, ge = null, ue = null, de = null;
        Weight gs = null, us = null, ds = null;
        if (l < c.nDense()) {
            gate = Weight.matrix(Weight.require(file, b + "ffn_gate.weight"), c.ffnDim(), dim);
            up = Weight.matrix(Weight.require(file, b + "ffn_up.weight"), c.ffnDim(), dim);
            down = Weight.matrix(Weight.require(file, b + "ffn_down.weight"), dim, c.ffnDim());
        } else {
            int ne = c.nExpert(), ff = c.ffnExpDim();
            router = Weight.matrix(Weight.require(file, b + "ffn_gate_inp.weight"), ne, dim);
            bias = Weight.optionalVector(file, b + "exp_probs_b.bias", ne);
            ge = Weight.stacked(Weight.require(file, b + "ffn_gate_exps.weight"), ne, ff, dim);
            ue = Weight.stacked(Weight.require(file, b + "ffn_up_exps.weight"), ne, ff, dim);
            de = Weight.stacked(Weight.require(file, b + "ffn_down_exps.weight"), ne, dim, ff);
            if (c.nExpertShared() > 0) {
                int fs = ff * c.nExpertShared();
                gs = Weight.matrix(Weight.require(file, b + "ffn_gate_shexp.weight"), fs, dim);
                us = Weight.matrix(Weight.require(file, b + "ffn_up_shexp.weight"), fs, dim);
                ds = Weight.matrix(Weight.require(file, b + "ffn_down_shexp.weight"), dim, fs);
            }
        }
        return new Layer(Weight.vector(Weight.require(file, b + "attn_norm.weight"), dim), wq, wqA, qANorm, wqB,
                wkvA, kvANorm, kB, vB, kBs, vBs, wo, ffnNorm, gate, up, down, router, bias, ge, ue, de, gs, us, ds);
    }

    /**
     * The older combined layout: attn_kv_b holds per head W_UK (nope rows of kv_lora) then W_UV (v_head rows of
     * kv_lora). W_UV is used in place; W_UK is needed transposed (kv_lora rows of nope) to fold it into the query, as
     * current converters store attn_k_b, so it is transposed once here into an F32 copy (n_head · kv_lora · nope
     * floats per layer, freed with the weights), all heads in one segment so that they stack.
     */
    private static Stacked splitKvB(Weight kvB, DeepseekConfig c, Weight[] kB, Weight[] vB, Arena derived) {
        int nope = c.headDimNope(), kvLora = c.kvLora(), per = nope + c.headDimV();
        long headBytes = 4L * kvLora * nope;
        MemorySegment rows = derived.allocate(4L * nope * kvLora, 64);
        MemorySegment all = derived.allocate(headBytes * kB.length, 64);
        try (Kernels k = KernelsProvider.javaKernels("transposing attn_kv_b at load")) {
            for (int h = 0; h < kB.length; h++) {
                k.dequantize(kvB.type(), rows, kvB.slice(h * per, nope).data(), nope, kvLora);
                MemorySegment t = all.asSlice(h * headBytes, headBytes);
                for (int i = 0; i < nope; i++) {
                    for (int j = 0; j < kvLora; j++) {
                        t.setAtIndex(ValueLayout.JAVA_FLOAT, (long) j * nope + i, rows.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * kvLora + j));
                    }
                }
                kB[h] = new Weight(kvB.name() + " (W_UK transposed)", GgmlType.F32, kvLora, nope, t);
                vB[h] = kvB.slice(h * per + nope, c.headDimV());
            }
        }
        return new Stacked(GgmlType.F32, kB.length, kvLora, nope, headBytes, all);
    }

    @Override
    void layerMatrices(List<Weight> out) {
        for (Layer l : layers) {
            for (Weight w : new Weight[] {l.wq(), l.wqA(), l.wqB(), l.wkvA(), l.wo(), l.gate(), l.up(), l.down(), l.router(),
                    l.gateShexp(), l.upShexp(), l.downShexp()})
                if (w != null) out.add(w);
            if (l.moe()) addExperts(out, l.gateExps(), l.upExps(), l.downExps(), config.ffnExpDim(), config.dim());
        }
    }

    /** Every weight of the file: the trunk's and the MTP layers' (their fallbacks to the trunk's counted once). */
    @Override
    public long parameterCount() {
        long n = super.parameterCount();
        for (Layer l : layers) n += count(l);
        for (Mtp m : nextn) {
            n += count(m.layer()) + Weight.count(m.ehProj(), m.enorm(), m.hnorm());
            if (m.embed() != tokenEmbd) n += m.embed().elements();
            if (m.headNorm() != outputNorm) n += m.headNorm().elements();
            if (m.head() != output && m.head() != tokenEmbd) n += m.head().elements();
        }
        return n;
    }

    private static long count(Layer l) {
        return Weight.count(l.attnNorm(), l.wq(), l.wqA(), l.qANorm(), l.wqB(), l.wkvA(), l.kvANorm(), l.wo(), l.ffnNorm(),
                l.gate(), l.up(), l.down(), l.router(), l.expProbsB(), l.gateExps(), l.upExps(), l.downExps(),
                l.gateShexp(), l.upShexp(), l.downShexp()) + Weight.count(l.kB()) + Weight.count(l.vB());
    }

    @Override
    public DeepseekForward newForward(Kernels kernels, int maxTokens) {
        return new DeepseekForward(this, kernels, maxTokens);
    }

    @Override
    public KvCache newKvCache(int nBlocks, int blockSize, GgmlType kType, GgmlType vType) {
        config.checkKvTypes(kType, vType);
        return DeepseekForward.newCache(config, nBlocks, blockSize, kType);
    }
}
