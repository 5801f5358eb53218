/**
 * Tools that make and measure compressed models, each giving llama.cpp's result on the same input:
 * {@link dev.panamax.tools.Quantizer} (llama_model_quantize's bytes: its per-tensor mix rules, metadata, order and
 * alignment, streamed tensor by tensor), {@link dev.panamax.tools.Perplexity} (llama-perplexity's method, its KL
 * divergence statistics against saved base logits), and {@link dev.panamax.tools.ImatrixCollector} (llama-imatrix's
 * importance matrix, written in its GGUF format as {@link dev.panamax.tools.Imatrix}); and
 * {@link dev.panamax.tools.Pruner}, which llama.cpp has no counterpart of: structured pruning of experts, feed-forward
 * channels and KV groups ranked on calibration text (the imatrix's pass), written as files llama.cpp loads. They drive models through the
 * public {@code Model}/{@code Session} API (prompt batches on the GEMM path) and the kernels; nothing here runs during
 * inference.
 */
package dev.panamax.tools;
