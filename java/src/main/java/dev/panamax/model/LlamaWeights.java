package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.util.List;

/**
 * The weights of a Llama-family model as views of the mapped GGUF file (zero copy), with every shape and type
 * checked against the {@link LlamaConfig} at load, so the forward pass never meets a surprise. Names are
 * llama.cpp's ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, {@code blk.N.attn_q_norm.weight},
 * {@code blk.N.ffn_gate_exps.weight}, ...; embeddings and output head:
 * {@link TransformerWeights}). An optional {@code rope_freqs.weight} (F32, nRot/2; Llama 3.1's
 * RoPE frequency factors; llama.cpp's one name for it, shared by every layer) divides the angles of Q and K's RoPE
 * in every layer. Immutable; valid while the file is open.
 */
public final class LlamaWeights extends TransformerWeights<LlamaConfig> {

    /**
     * One transformer block. Biases are null when the file has none (llama), present for qwen2; {@code qNorm}/{@code kNorm}
     * (headDimK) only for qwen3. Feed-forward: dense {@code gate/up/down}, or (qwen3moe) router {@code router}
     * (n_expert rows) and stacked experts {@code gateExps/upExps/downExps}; the other group is null.
     */
    public record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo, Weight bq, Weight bk, Weight bv,
                        Weight qNorm, Weight kNorm, Weight ffnNorm, Weight gate, Weight up, Weight down,
                        Weight router, Weight gateExps, Weight upExps, Weight downExps) {
    }

    public final Weight ropeFreqs; // (nRot/2) frequency factors, or null
    public final Layer[] layers;

    private LlamaWeights(GgufFile file, LlamaConfig c) throws GgufFormatException {
        super(file, c);
        ropeFreqs = Weight.optionalVector(file, "rope_freqs.weight", c.nRot() / 2);
        layers = new Layer[c.nLayer()];
        int dim = c.dim(), qDim = c.nHead() * c.headDimK(), kDim = c.nKvHead() * c.headDimK(), vDim = c.nKvHead() * c.headDimV();
        for (int l = 0; l < c.nLayer(); l++) {
            String b = "blk." + l + ".";
            Weight attnNorm = Weight.vector(Weight.require(file, b + "attn_norm.weight"), dim);
            Weight wq = Weight.matrix(Weight.require(file, b + "attn_q.weight"), qDim, dim);
            Weight wk = Weight.matrix(Weight.require(file, b + "attn_k.weight"), kDim, dim);
            Weight wv = Weight.matrix(Weight.require(file, b + "attn_v.weight"), vDim, dim);
            Weight wo = Weight.matrix(Weight.require(file, b + "attn_output.weight"), dim, c.nHead() * c.headDimV());
            Weight bq = Weight.optionalVector(file, b + "attn_q.bias", qDim);
            Weight bk = Weight.optionalVector(file, b + "attn_k.bias", kDim);
            Weight bv = Weight.optionalVector(file, b + "attn_v.bias", vDim);
            Weight qNorm = null, kNorm = null;
            if (c.qkNorm()) {
                qNorm = Weight.vector(Weight.require(file, b + "attn_q_norm.weight"), c.headDimK());
                kNorm = Weight.vector(Weight.require(file, b + "attn_k_norm.weight"), c.headDimK());
            }
            Weight ffnNorm = Weight.vector(Weight.require(file, b + "ffn_norm.weight"), dim);
            Weight gate = null, up = null, down = null, router = null, ge = null, ue = null, de = null;
            if (c.moe()) {
                int ne = c.nExpert(), ff = c.ffnExpDim();
                router = Weight.matrix(Weight.require(file, b + "ffn_gate_inp.weight"), ne, dim);
                ge = Weight.stacked(Weight.require(file, b + "ffn_gate_exps.weight"), ne, ff, dim);
                ue = Weight.stacked(Weight.require(file, b + "ffn_up_exps.weight"), ne, ff, dim);
                de = Weight.stacked(Weight.require(file, b + "ffn_down_exps.weight"), ne, dim, ff);
            } else {
                gate = Weight.matrix(Weight.require(file, b + "ffn_gate.weight"), c.ffnDim(), dim);
                up = Weight.matrix(Weight.require(file, b + "ffn_up.weight"), c.ffnDim(), dim);
                down = Weight.matrix(Weight.require(file, b + "ffn_down.weight"), dim, c.ffnDim());
            }
            layers[l] = new Layer(attnNorm, wq, wk, wv, wo, bq, bk, bv, qNorm, kNorm, ffnNorm, gate, up, down, router, ge, ue, de);
        }
    }

    public static LlamaWeights load(GgufFile file) throws GgufFormatException {
        return new LlamaWeights(file, LlamaConfig.fromMetadata(file.metadata(), vocabSize(file)));
    }

    @Override
    void layerMatrices(List<Weight> out) {
        for (Layer l : layers) {
            out.addAll(List.of(l.wq(), l.wk(), l.wv(), l.wo()));
            if (config.moe()) {
                out.add(l.router());
                addExperts(out, l.gateExps(), l.upExps(), l.downExps(), config.ffnExpDim(), config.dim());
            } else {
                out.addAll(List.of(l.gate(), l.up(), l.down()));
            }
        }
    }

    @Override
    public long parameterCount() {
        long n = super.parameterCount() + Weight.count(ropeFreqs);
        for (Layer l : layers) {
            n += Weight.count(l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.bq(), l.bk(), l.bv(), l.qNorm(), l.kNorm(),
                    l.ffnNorm(), l.gate(), l.up(), l.down(), l.router(), l.gateExps(), l.upExps(), l.downExps());
        }
        return n;
    }

    @Override
    public LlamaForward newForward(Kernels kernels, int maxTokens) {
        return new LlamaForward(this, kernels, maxTokens);
    }

    @Override
    public KvCache newKvCache(int nBlocks, int blockSize, GgmlType kType, GgmlType vType) {
        return LlamaForward.newCache(config, nBlocks, blockSize, kType, vType);
    }
}
