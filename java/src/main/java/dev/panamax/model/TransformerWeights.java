package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.kernels.Kernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the weights of every architecture have, loaded and checked once here: the config, and the two ends of the
 * network, token embeddings in and final norm plus output head out ({@link ForwardPass} runs them). An absent
 * {@code output.weight} means the head is tied to {@code token_embd.weight}. Immutable; valid while the file is open.
 */
public abstract sealed class TransformerWeights<C extends ModelConfig> implements ModelWeights
        permits LlamaWeights, DeepseekWeights {

    public final C config;
    public final Weight tokenEmbd; // (vocab, dim)
    public final Weight outputNorm; // (dim)
    public final Weight output; // (vocab, dim); tokenEmbd when tied
    private volatile PackedWeights packed = PackedWeights.NONE;

    /** Loads the ends of the network; the subclass then loads its layers (so a missing tensor is named in file order). */
    TransformerWeights(GgufFile file, C config) throws GgufFormatException {
        this.config = config;
        // every layer has tensors of its own: a block_count beyond the tensor count is a lie, rejected before the
        // per-layer arrays are sized from it
        if (config.nLayer() > file.tensors().size()) {
            throw new GgufFormatException("block_count " + config.nLayer() + " exceeds the " + file.tensors().size()
                    + " tensors of the file");
        }
        tokenEmbd = Weight.matrix(Weight.require(file, "token_embd.weight"), config.vocabSize(), config.dim());
        outputNorm = Weight.vector(Weight.require(file, "output_norm.weight"), config.dim());
        GgufTensor out = file.tensor("output.weight");
        output = out == null ? tokenEmbd : Weight.matrix(out, config.vocabSize(), config.dim());
    }

    /** The vocabulary size: the rows of {@code token_embd.weight}, which the config records before any shape is checked. */
    static int vocabSize(GgufFile file) throws GgufFormatException {
        GgufTensor embd = Weight.require(file, "token_embd.weight");
        if (embd.shape().length != 2) throw new GgufFormatException("token_embd.weight must be 2-D, shape " + Arrays.toString(embd.shape()));
        long vocab = embd.shape()[1];
        if (vocab <= 0 || vocab > Integer.MAX_VALUE / 2) throw new GgufFormatException("token_embd.weight: bad vocabulary size " + vocab);
        return (int) vocab;
    }

    /** The matrices the forward pass multiplies as whole matrices (candidates for packing): the head and the layers'. */
    public List<Weight> matrices() {
        List<Weight> m = new ArrayList<>();
        m.add(output);
        layerMatrices(m);
        return m;
    }

    /** Adds the layers' matrices that go through {@link ForwardPass#matmul} (and stacked experts, {@link #addExperts}). */
    abstract void layerMatrices(List<Weight> out);

    /**
     * Adds a layer's stacked experts (ffExp rows each; down: dim rows) to the matrices to pack when every expert's rows
     * are whole 16-row groups, the packed layout {@link ForwardPass#experts} reads.
     */
    static void addExperts(List<Weight> out, Weight gate, Weight up, Weight down, int ffExp, int dim) {
        if (ffExp % 16 == 0 && dim % 16 == 0) out.addAll(List.of(gate, up, down));
    }

    @Override
    public void pack(Kernels kernels) {
        if (packed != PackedWeights.NONE) throw new IllegalStateException("weights are packed already");
        packed = PackedWeights.pack(matrices(), List.of(tokenEmbd), kernels);
    }

    @Override
    public ModelState newState(Kernels kernels, int nCtx, int maxBatch, dev.panamax.tensor.GgmlType kType,
                               dev.panamax.tensor.GgmlType vType) {
        return new SequenceState(this, kernels, nCtx, maxBatch, kType, vType);
    }

    @Override
    public PackedWeights packed() {
        return packed;
    }

    public boolean tiedOutput() {
        return output == tokenEmbd;
    }

    /** The parameters of the ends (a tied head counted once); subclasses add their layers'. */
    @Override
    public long parameterCount() {
        return Weight.count(tokenEmbd, outputNorm) + (tiedOutput() ? 0 : output.elements());
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
    public int layerCount() {
        return config.nLayer();
    }

    @Override
    public long kvBytesPerToken(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        config.checkKvTypes(k, v);
        return config.kvBytesPerToken(k, v);
    }

    @Override
    public void checkKvTypes(dev.panamax.tensor.GgmlType k, dev.panamax.tensor.GgmlType v) {
        config.checkKvTypes(k, v);
    }
}
