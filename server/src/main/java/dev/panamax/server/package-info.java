/**
 * An OpenAI-compatible HTTP server over a Panamax {@link dev.panamax.Engine}. Contract: {@link
 * dev.panamax.server.Server#start} binds Jetty (plain core handlers, one virtual thread per request) to
 * {@link dev.panamax.server.ServerConfig#host()} (127.0.0.1 unless told otherwise) and serves {@code POST
 * /v1/chat/completions}, {@code POST /v1/completions} (JSON or SSE streams in OpenAI's shapes), {@code GET /v1/models},
 * {@code POST /v1/embeddings} and {@code POST /v1/rerank} (embedding and reranker models),
 * {@code POST /tokenize}, {@code POST /detokenize}, {@code GET /health} (public liveness), {@code GET /ready} (public
 * readiness: 503 once the engine is closed or the server drains) and {@code GET /metrics} (Prometheus text through
 * Micrometer, with vLLM's metric names beside Panamax's for the routers that read those). Every request is translated
 * into engine requests and nothing else: scheduling, sampling and stop strings stay in the engine. A request
 * parameter the engine cannot honour is refused with a 400, never ignored; every error is
 * {@code {"error":{"message","type","code","param"}}} with its status and never a stack trace. A client that goes away
 * cancels its engine requests. The server does not own the engine: {@link dev.panamax.server.Server#close()} turns /ready
 * to 503 and refuses new work with 503, lets running requests finish (up to the shutdown timeout), then stops HTTP; the
 * caller closes the engine. {@link dev.panamax.server.LocalApi} is the two completion endpoints without HTTP (the same
 * validation and JSON, non-streaming), for run-batch on Spark.
 */
package dev.panamax.server;
