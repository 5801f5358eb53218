package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.util.List;

/**
 * The weights of a Llama-family model as views of the mapped GGUF file (zero copy), with every shape and type
 * checked against the {@link LlamaConfig} at load, so the forward pass never meets a surprise. Names are
 * llama.cpp's ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, ...; embeddings and output head:
 * {@link TransformerWeights}). An optional {@code rope_freqs.weight} (F32, nRot/2; Llama 3.1's
 * RoPE frequency factors; llama.cpp's one name for it, shared by every layer) divides the angles of Q and K's RoPE
 * in every layer. Immutable; valid while the file is open.
 */
public final class LlamaWeights extends TransformerWeights<LlamaConfig> {

    /** One transformer block; biases are null when the file has none (llama), present for qwen2. */
    public record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo, Weight bq, Weight bk, Weight bv,
                        Weight ffnNorm, Weight gate, Weight up, Weight down) {
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
            layers[l] = new Layer(
                    Weight.vector(Weight.require(file, b + "attn_norm.weight"), dim),
                    Weight.matrix(Weight.require(file, b + "attn_q.weight"), qDim, dim),
                    Weight.matrix(Weight.require(file, b + "attn_k.weight"), kDim, dim),
                    Weight.matrix(Weight.require(file, b + "attn_v.weight"), vDim, dim),
                    Weight.matrix(Weight.require(file, b + "attn_output.weight"), dim, c.nHead() * c.headDimV()),
                    Weight.optionalVector(file, b + "attn_q.bias", qDim),
                    Weight.optionalVector(file, b + "attn_k.bias", kDim),
                    Weight.optionalVector(file, b + "attn_v.bias", vDim),
                    Weight.vector(Weight.require(file, b + "ffn_norm.weight"), dim),
                    Weight.matrix(Weight.require(file, b + "ffn_gate.weight"), c.ffnDim(), dim),
                    Weight.matrix(Weight.require(file, b + "ffn_up.weight"), c.ffnDim(), dim),
                    Weight.matrix(Weight.require(file, b + "ffn_down.weight"), dim, c.ffnDim()));
        }
    }

    public static LlamaWeights load(GgufFile file) throws GgufFormatException {
        return new LlamaWeights(file, LlamaConfig.fromMetadata(file.metadata(), vocabSize(file)));
    }

    @Override
    void layerMatrices(List<Weight> out) {
        for (Layer l : layers) out.addAll(List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.gate(), l.up(), l.down()));
    }

    @Override
    public long parameterCount() {
        long n = super.parameterCount() + Weight.count(ropeFreqs);
        for (Layer l : layers) {
            n += Weight.count(l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.bq(), l.bk(), l.bv(), l.ffnNorm(), l.gate(), l.up(), l.down());
        }
        return n;
    }

    @Override
    public LlamaForward newForward(Kernels kernels, int maxTokens) {
        return new LlamaForward(this, kernels, maxTokens);
    }

    @Override
    public KvCache newKvCache(int nBlocks, int blockSize, GgmlType type) {
        return LlamaForward.newCache(config, nBlocks, blockSize, type);
    }
}
