package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import dev.panamax.tensor.GgmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * The weights of a {@code bert} encoder under llama.cpp's names: {@code token_embd}, {@code token_types} (row 0 is
 * added to every token, as llama.cpp does), {@code position_embd} (learned, context_length rows), {@code
 * token_embd_norm} (LayerNorm with bias); per layer {@code attn_q/k/v/output} with biases, {@code attn_output_norm},
 * {@code ffn_up}/{@code ffn_down} with biases and {@code layer_output_norm}; for a reranker the classification head
 * {@code cls} (dim x dim, tanh) and {@code cls.output} (n labels x dim). No session or engine runs it (an encoder has
 * no KV cache to decode with): {@link EmbeddingPass} does. Immutable; valid while the file is open.
 */
public final class BertWeights implements ModelWeights {

    public record Layer(Weight wq, Weight bq, Weight wk, Weight bk, Weight wv, Weight bv, Weight wo, Weight bo,
                        Weight attnNorm, Weight attnNormB, Weight up, Weight bUp, Weight down, Weight bDown,
                        Weight outNorm, Weight outNormB) {
    }

    public final BertConfig config;
    public final Weight tokenEmbd, tokenTypes, posEmbd, embdNorm, embdNormB;
    public final Layer[] layers;
    /** Classification head of a reranker, or null: cls (dim, dim) + bias, cls.output (labels, dim) + bias. */
    public final Weight cls, clsB, clsOut, clsOutB;
    private volatile PackedWeights packed = PackedWeights.NONE;

    private BertWeights(GgufFile f, BertConfig c) throws GgufFormatException {
        config = c;
        int dim = c.dim(), ff = c.ffnDim();
        if (c.nLayer() > f.tensors().size()) {
            throw new GgufFormatException("block_count " + c.nLayer() + " exceeds the " + f.tensors().size() + " tensors of the file");
        }
        tokenEmbd = Weight.matrix(Weight.require(f, "token_embd.weight"), c.vocabSize(), dim);
        GgufTensor tt = f.tensor("token_types.weight");
        if (tt != null && (tt.shape().length != 2 || tt.shape()[1] < 1 || tt.shape()[1] > 1 << 16)) {
            throw new GgufFormatException("token_types.weight: bad shape " + java.util.Arrays.toString(tt.shape()));
        }
        tokenTypes = tt == null ? null : Weight.matrix(tt, (int) tt.shape()[1], dim);
        posEmbd = Weight.matrix(Weight.require(f, "position_embd.weight"), c.ctxTrain(), dim);
        embdNorm = Weight.vector(Weight.require(f, "token_embd_norm.weight"), dim);
        embdNormB = Weight.vector(Weight.require(f, "token_embd_norm.bias"), dim);
        layers = new Layer[c.nLayer()];
        for (int l = 0; l < c.nLayer(); l++) {
            String b = "blk." + l + ".";
            layers[l] = new Layer(
                    Weight.matrix(Weight.require(f, b + "attn_q.weight"), dim, dim), Weight.optionalVector(f, b + "attn_q.bias", dim),
                    Weight.matrix(Weight.require(f, b + "attn_k.weight"), dim, dim), Weight.optionalVector(f, b + "attn_k.bias", dim),
                    Weight.matrix(Weight.require(f, b + "attn_v.weight"), dim, dim), Weight.optionalVector(f, b + "attn_v.bias", dim),
                    Weight.matrix(Weight.require(f, b + "attn_output.weight"), dim, dim), Weight.optionalVector(f, b + "attn_output.bias", dim),
                    Weight.vector(Weight.require(f, b + "attn_output_norm.weight"), dim),
                    Weight.vector(Weight.require(f, b + "attn_output_norm.bias"), dim),
                    Weight.matrix(Weight.require(f, b + "ffn_up.weight"), ff, dim), Weight.optionalVector(f, b + "ffn_up.bias", ff),
                    Weight.matrix(Weight.require(f, b + "ffn_down.weight"), dim, ff), Weight.optionalVector(f, b + "ffn_down.bias", dim),
                    Weight.vector(Weight.require(f, b + "layer_output_norm.weight"), dim),
                    Weight.vector(Weight.require(f, b + "layer_output_norm.bias"), dim));
        }
        GgufTensor co = f.tensor("cls.output.weight");
        if (co != null) {
            // (dim, labels); one label may be stored 1-D, as llama.cpp's quantizer writes it
            long[] sh = co.shape();
            boolean oneRow = sh.length == 1 && sh[0] == dim;
            if (!oneRow && (sh.length != 2 || sh[1] <= 0 || sh[1] > 1 << 16)) {
                throw new GgufFormatException("cls.output.weight: bad shape " + java.util.Arrays.toString(sh));
            }
            int labels = oneRow ? 1 : (int) sh[1];
            GgufTensor ct = f.tensor("cls.weight");
            cls = ct == null ? null : Weight.matrix(ct, dim, dim);
            clsB = cls == null ? null : Weight.optionalVector(f, "cls.bias", dim);
            clsOut = oneRow ? Weight.row(co, dim) : Weight.matrix(co, labels, dim);
            clsOutB = Weight.optionalVector(f, "cls.output.bias", labels);
        } else {
            cls = clsB = clsOut = clsOutB = null;
        }
    }

    public static BertWeights load(GgufFile file) throws GgufFormatException {
        return new BertWeights(file, BertConfig.fromMetadata(file.metadata(), TransformerWeights.vocabSize(file)));
    }

    /** Labels of the classification head (a reranker's score: 1), 0 without one. */
    public int classes() {
        return clsOut == null ? 0 : clsOut.rows();
    }

    List<Weight> matrices() {
        List<Weight> m = new ArrayList<>();
        for (Layer l : layers) m.addAll(List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.up(), l.down()));
        return m;
    }

    @Override
    public String arch() {
        return "bert";
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
    public long parameterCount() {
        long n = Weight.count(tokenEmbd, tokenTypes, posEmbd, embdNorm, embdNormB, cls, clsB, clsOut, clsOutB);
        for (Layer l : layers) {
            n += Weight.count(l.wq(), l.bq(), l.wk(), l.bk(), l.wv(), l.bv(), l.wo(), l.bo(), l.attnNorm(), l.attnNormB(),
                    l.up(), l.bUp(), l.down(), l.bDown(), l.outNorm(), l.outNormB());
        }
        return n;
    }

    @Override
    public void checkKvTypes(GgmlType k, GgmlType v) {
        // no cache between calls: an encoder's attention keeps its own F16 rows whatever the options say
    }

    @Override
    public long kvBytesPerToken(GgmlType k, GgmlType v) {
        return 0; // an encoder keeps no cache between calls
    }

    @Override
    public void pack(Kernels kernels) {
        if (packed != PackedWeights.NONE) throw new IllegalStateException("weights are packed already");
        // each layer's Q, K and V as one matrix: one GEMM over the layer's input (BertForward)
        List<List<Weight>> qkv = new ArrayList<>();
        for (Layer l : layers) qkv.add(List.of(l.wq(), l.wk(), l.wv()));
        packed = PackedWeights.pack(matrices(), List.of(tokenEmbd), kernels, qkv);
    }

    @Override
    public PackedWeights packed() {
        return packed;
    }

    private static UnsupportedOperationException encoderOnly() {
        return new UnsupportedOperationException("bert is an encoder: it makes embeddings (Model.embed), it does not generate");
    }

    @Override
    public ModelState newState(Kernels kernels, int nCtx, int maxBatch, GgmlType kType, GgmlType vType) {
        throw encoderOnly();
    }

    @Override
    public ForwardPass newForward(Kernels kernels, int maxTokens) {
        throw encoderOnly();
    }

    @Override
    public KvCache newKvCache(int nBlocks, int blockSize, GgmlType kType, GgmlType vType) {
        throw encoderOnly();
    }

    @Override
    public int layerCount() {
        return config.nLayer();
    }
}
