/**
 * LangChain4j on an in-process Panamax {@link dev.panamax.Engine}: {@link dev.panamax.langchain4j.PanamaxChatModel},
 * {@link dev.panamax.langchain4j.PanamaxStreamingChatModel}, {@link dev.panamax.langchain4j.PanamaxTokenCountEstimator},
 * {@link dev.panamax.langchain4j.PanamaxEmbeddingModel} and {@link dev.panamax.langchain4j.PanamaxScoringModel} (these two on a {@link dev.panamax.Model}:
 * its embedder, vectors and scores as {@code Model.embed}/{@code rerank} give them).
 * Contract: the caller owns the engine (these classes never close it); a request is rendered with the model's chat
 * template (tools included, in the model family's syntax), sampled with the request's parameters ({@link
 * dev.panamax.langchain4j.PanamaxChatRequestParameters} adds the seed and min-p), constrained by a grammar for a JSON
 * response format or a required tool call, and read back into text and {@code ToolExecutionRequest}s. Streaming hands
 * each piece from the engine's thread to a virtual thread per request, which calls the handler; a handler that throws
 * or cancels through its {@code StreamingHandle} stops the request at the engine's next step.
 */
package dev.panamax.langchain4j;
