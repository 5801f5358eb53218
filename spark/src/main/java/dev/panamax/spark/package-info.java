/**
 * Batch inference on Apache Spark. {@link dev.panamax.spark.PanamaxSpark#generate} (and the ML stage {@link
 * dev.panamax.spark.PanamaxGenerator}) add the columns {@code completion}, {@code finish_reason}, {@code
 * prompt_tokens}, {@code completion_tokens}, {@code cached_tokens} and {@code error} to a DataFrame with a prompt or a
 * chat-messages column. Contract: each executor JVM maps the model once and runs one {@link dev.panamax.Engine} over
 * it ({@link dev.panamax.spark.ExecutorEngines}: reference-counted by the tasks using it, closed a few seconds after
 * the last one ends and at JVM exit), with as many kernel threads as the executor has cores; each task keeps a bounded
 * number of its rows in that engine at once, so the rows of every partition running on the executor are decoded
 * together (continuous batching), and hands its rows back in input order. A row the engine cannot take (a prompt
 * beyond the context, bytes that are not UTF-8, a malformed messages value) gets its {@code error} and nulls, the
 * others complete; a model file that does not exist fails the job with one message naming the path and the host.
 * With a job seed (or a seed column) a row's sampling does not depend on which task or attempt runs it, so a retried
 * task gives the same rows. {@link dev.panamax.spark.RunBatch} is {@code ./panamax run-batch}: OpenAI Batch API files
 * through the server's request and response mapping ({@link dev.panamax.server.LocalApi}). Spark is a {@code provided}
 * dependency and runs on the class path: this module has no module-info, and the library is used through its exported
 * API only.
 */
package dev.panamax.spark;
