package dev.panamax.model;

import dev.panamax.ContextOverflowException;
import dev.panamax.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * The two ends of every architecture's forward pass, written once: the batch checks and token embeddings going in,
 * the final norm and the output head coming out.
 */
final class TokenIo {
    private TokenIo() {}

    /**
     * Checks a batch before any state changes, then writes its embeddings into x ([n][dim]) and positions pos0.. into
     * pos (int32[n]): exactly one row of token_embd is dequantized per token, whatever its type.
     *
     * @throws ContextOverflowException when the cache cannot hold the n tokens
     */
    static void embed(Kernels k, Weight tokenEmbd, int[] tokens, int off, int n, int maxBatch, int pos0, int nCtx,
                      MemorySegment x, MemorySegment pos) {
        if (n <= 0 || n > maxBatch) throw new IllegalArgumentException("batch of " + n + " tokens, allowed 1.." + maxBatch);
        Objects.checkFromIndexSize(off, n, tokens.length);
        if (pos0 + n > nCtx) throw new ContextOverflowException(pos0 + n, nCtx);
        int vocab = tokenEmbd.rows(), dim = tokenEmbd.cols();
        for (int t = 0; t < n; t++) {
            int id = tokens[off + t];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        for (int t = 0; t < n; t++) {
            k.dequantize(tokenEmbd.type(), x.asSlice(4L * t * dim, 4L * dim), tokenEmbd.row(tokens[off + t]), 1, dim);
            pos.setAtIndex(ValueLayout.JAVA_INT, t, pos0 + t);
        }
    }

    /**
     * Final RMSNorm and output head of the n rows of x: the last row's logits into {@code logits}, and every row's into
     * {@code allLogits} ([n][vocab]) when it is not null. xb is scratch of at least n rows.
     */
    static void head(Kernels k, Weight outputNorm, Weight output, float eps, MemorySegment x, MemorySegment xb, int n,
                     MemorySegment allLogits, MemorySegment logits) {
        int dim = output.cols(), vocab = output.rows();
        if (allLogits != null) {
            k.rmsnorm(xb, x, outputNorm.data(), dim, n, eps);
            k.matmul(output.type(), output.data(), vocab, dim, xb, n, allLogits);
            MemorySegment.copy(allLogits, 4L * (n - 1) * vocab, logits, 0, 4L * vocab);
        } else {
            k.rmsnorm(xb, x.asSlice(4L * (n - 1) * dim, 4L * dim), outputNorm.data(), dim, 1, eps);
            k.matmul(output.type(), output.data(), vocab, dim, xb, 1, logits);
        }
    }
}
