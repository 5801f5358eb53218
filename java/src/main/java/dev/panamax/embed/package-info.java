/**
 * Embeddings and reranking as llama.cpp computes them. An {@link dev.panamax.embed.Embedder} tokenizes texts as
 * {@code llama_tokenize(add_special, parse_special)} does, runs many of them together through the model's
 * {@link dev.panamax.model.EmbeddingPass} (one forward step per batch of texts: a decoder's final-normed hidden states,
 * or a BERT encoder's last layer), pools each text's rows by the {@link dev.panamax.embed.Pooling} the file names
 * ({@code {arch}.pooling_type}) or the caller asks for, and normalizes them to unit Euclidean length (llama.cpp's default,
 * {@code embd_normalize = 2}). A reranker ({@code rank} pooling, a model with a classification head) scores a
 * (query, document) pair laid out as llama-server lays it out; scores are not normalized. Results equal llama.cpp's
 * within float summation order; the conformance tests hold them to its {@code llama_get_embeddings_seq}.
 */
package dev.panamax.embed;
