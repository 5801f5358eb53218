package dev.panamax.model;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The weights of a Llama-family model as views of the mapped GGUF file (zero copy), with every shape and type
 * checked against the {@link LlamaConfig} at load, so the forward pass never meets a surprise. Names are
 * llama.cpp's ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, ...). An absent {@code output.weight}
 * means the head is tied to {@code token_embd.weight}. Immutable; valid while the file is open.
 */
public final class LlamaWeights {

    /** A 2-D weight: {@code rows} rows of {@code cols} elements of {@code type}; or a 1-D F32 vector (rows = 1). */
    public record Weight(String name, GgmlType type, int rows, int cols, MemorySegment data) {
        /** The bytes of row r. */
        public MemorySegment row(int r) {
            long rb = type.rowBytes(cols);
            return data.asSlice(r * rb, rb);
        }
    }

    /** One transformer block; biases are null when the file has none (llama), present for qwen2. */
    public record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo, Weight bq, Weight bk, Weight bv,
                        Weight ffnNorm, Weight gate, Weight up, Weight down) {
    }

    public final LlamaConfig config;
    public final Weight tokenEmbd; // (vocab, dim)
    public final Weight outputNorm; // (dim)
    public final Weight output; // (vocab, dim); tokenEmbd when tied
    public final Layer[] layers;

    private LlamaWeights(LlamaConfig config, Weight tokenEmbd, Weight outputNorm, Weight output, Layer[] layers) {
        this.config = config;
        this.tokenEmbd = tokenEmbd;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layers = layers;
    }

    public boolean tiedOutput() {
        return output == tokenEmbd;
    }

    public static LlamaWeights load(GgufFile file) throws GgufFormatException {
        GgufTensor embd = require(file, "token_embd.weight");
        if (embd.shape().length != 2) throw new GgufFormatException("token_embd.weight must be 2-D, shape " + Arrays.toString(embd.shape()));
        long vocab = embd.shape()[1];
        if (vocab <= 0 || vocab > Integer.MAX_VALUE / 2) throw new GgufFormatException("token_embd.weight: bad vocabulary size " + vocab);
        LlamaConfig c = LlamaConfig.fromMetadata(file.metadata(), (int) vocab);
        int dim = c.dim(), qDim = c.nHead() * c.headDimK(), kDim = c.nKvHead() * c.headDimK(), vDim = c.nKvHead() * c.headDimV();
        Weight tokenEmbd = matrix(embd, c.vocabSize(), dim);
        Weight outputNorm = vector(require(file, "output_norm.weight"), dim);
        GgufTensor out = file.tensor("output.weight");
        Weight output = out == null ? tokenEmbd : matrix(out, c.vocabSize(), dim);
        Layer[] layers = new Layer[c.nLayer()];
        for (int l = 0; l < c.nLayer(); l++) {
            String b = "blk." + l + ".";
            layers[l] = new Layer(
                    vector(require(file, b + "attn_norm.weight"), dim),
                    matrix(require(file, b + "attn_q.weight"), qDim, dim),
                    matrix(require(file, b + "attn_k.weight"), kDim, dim),
                    matrix(require(file, b + "attn_v.weight"), vDim, dim),
                    matrix(require(file, b + "attn_output.weight"), dim, c.nHead() * c.headDimV()),
                    optionalVector(file, b + "attn_q.bias", qDim),
                    optionalVector(file, b + "attn_k.bias", kDim),
                    optionalVector(file, b + "attn_v.bias", vDim),
                    vector(require(file, b + "ffn_norm.weight"), dim),
                    matrix(require(file, b + "ffn_gate.weight"), c.ffnDim(), dim),
                    matrix(require(file, b + "ffn_up.weight"), c.ffnDim(), dim),
                    matrix(require(file, b + "ffn_down.weight"), dim, c.ffnDim()));
        }
        return new LlamaWeights(c, tokenEmbd, outputNorm, output, layers);
    }

    private static GgufTensor require(GgufFile f, String name) throws GgufFormatException {
        GgufTensor t = f.tensor(name);
        if (t == null) throw new GgufFormatException("missing tensor '" + name + "'");
        return t;
    }

    private static Weight matrix(GgufTensor t, int rows, int cols) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 2 || s[0] != cols || s[1] != rows) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + cols + ", " + rows + "]");
        }
        if (t.type() == null) {
            throw new GgufFormatException("tensor '" + t.name() + "' has type " + t.typeName() + ", which Panamax cannot compute with");
        }
        if (cols % t.type().blockSize() != 0) {
            throw new GgufFormatException("tensor '" + t.name() + "': rows of " + cols + " are not a multiple of the " + t.type() + " block");
        }
        return new Weight(t.name(), t.type(), rows, cols, t.data());
    }

    private static Weight vector(GgufTensor t, int n) throws GgufFormatException {
        long[] s = t.shape();
        if (s.length != 1 || s[0] != n) {
            throw new GgufFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(s) + ", expected [" + n + "]");
        }
        if (t.type() != GgmlType.F32) {
            throw new GgufFormatException("tensor '" + t.name() + "' must be F32 (as llama.cpp's converters write norms and biases), got " + t.typeName());
        }
        return new Weight(t.name(), GgmlType.F32, 1, n, t.data());
    }

    private static Weight optionalVector(GgufFile f, String name, int n) throws GgufFormatException {
        GgufTensor t = f.tensor(name);
        return t == null ? null : vector(t, n);
    }

    /** Parameter count (elements of every tensor the model uses). */
    public long parameterCount() {
        long n = (long) tokenEmbd.rows() * tokenEmbd.cols() + outputNorm.cols();
        if (!tiedOutput()) n += (long) output.rows() * output.cols();
        for (Layer l : layers) {
            for (Weight w : new Weight[] {l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.bq(), l.bk(), l.bv(), l.ffnNorm(), l.gate(), l.up(), l.down()}) {
                if (w != null) n += (long) w.rows() * w.cols();
            }
        }
        return n;
    }
}
