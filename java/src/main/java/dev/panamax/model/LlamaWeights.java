package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.util.Arrays;

/**
 * The weights of a Llama-family model as views of the mapped GGUF file (zero copy), with every shape and type
 * checked against the {@link LlamaConfig} at load, so the forward pass never meets a surprise. Names are
 * llama.cpp's ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, ...). An absent {@code output.weight}
 * means the head is tied to {@code token_embd.weight}. An optional {@code rope_freqs.weight} (F32, nRot/2; Llama 3.1's
 * RoPE frequency factors; llama.cpp's one name for it, shared by every layer) divides the angles of Q and K's RoPE
 * in every layer. Immutable; valid while the file is open.
 */
public final class LlamaWeights implements ModelWeights {

    /** One transformer block; biases are null when the file has none (llama), present for qwen2. */
    public record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo, Weight bq, Weight bk, Weight bv,
                        Weight ffnNorm, Weight gate, Weight up, Weight down) {
    }

    public final LlamaConfig config;
    public final Weight tokenEmbd; // (vocab, dim)
    public final Weight outputNorm; // (dim)
    public final Weight output; // (vocab, dim); tokenEmbd when tied
    public final Weight ropeFreqs; // (nRot/2) frequency factors, or null
    public final Layer[] layers;

    private LlamaWeights(LlamaConfig config, Weight tokenEmbd, Weight outputNorm, Weight output, Weight ropeFreqs,
                         Layer[] layers) {
        this.config = config;
        this.tokenEmbd = tokenEmbd;
        this.outputNorm = outputNorm;
        this.output = output;
        this.ropeFreqs = ropeFreqs;
        this.layers = layers;
    }

    public boolean tiedOutput() {
        return output == tokenEmbd;
    }

    public static LlamaWeights load(GgufFile file) throws GgufFormatException {
        GgufTensor embd = Weight.require(file, "token_embd.weight");
        if (embd.shape().length != 2) throw new GgufFormatException("token_embd.weight must be 2-D, shape " + Arrays.toString(embd.shape()));
        long vocab = embd.shape()[1];
        if (vocab <= 0 || vocab > Integer.MAX_VALUE / 2) throw new GgufFormatException("token_embd.weight: bad vocabulary size " + vocab);
        LlamaConfig c = LlamaConfig.fromMetadata(file.metadata(), (int) vocab);
        int dim = c.dim(), qDim = c.nHead() * c.headDimK(), kDim = c.nKvHead() * c.headDimK(), vDim = c.nKvHead() * c.headDimV();
        Weight tokenEmbd = Weight.matrix(embd, c.vocabSize(), dim);
        Weight outputNorm = Weight.vector(Weight.require(file, "output_norm.weight"), dim);
        GgufTensor out = file.tensor("output.weight");
        Weight output = out == null ? tokenEmbd : Weight.matrix(out, c.vocabSize(), dim);
        Weight ropeFreqs = Weight.optionalVector(file, "rope_freqs.weight", c.nRot() / 2);
        Layer[] layers = new Layer[c.nLayer()];
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
        return new LlamaWeights(c, tokenEmbd, outputNorm, output, ropeFreqs, layers);
    }

    @Override
    public long parameterCount() {
        long n = Weight.count(tokenEmbd, outputNorm, ropeFreqs) + (tiedOutput() ? 0 : output.elements());
        for (Layer l : layers) {
            n += Weight.count(l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.bq(), l.bk(), l.bv(), l.ffnNorm(), l.gate(), l.up(), l.down());
        }
        return n;
    }

    @Override
    public String arch() {
        return config.arch();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int trainedContextLength() {
        return config.ctxTrain();
    }

    @Override
    public long kvBytesPerToken(int elementBytes) {
        return config.kvBytesPerToken(elementBytes);
    }

    @Override
    public LlamaState newState(Kernels kernels, int nCtx, int maxBatch, GgmlType kvType) {
        return new LlamaState(this, kernels, nCtx, maxBatch, kvType);
    }
}
