/**
 * Panamax: LLM inference on CPU servers, in-process. The public API is {@code dev.panamax} ({@link dev.panamax.Model},
 * {@link dev.panamax.Session}, {@link dev.panamax.Engine}), {@code dev.panamax.sampling} (how tokens are chosen),
 * {@code dev.panamax.tokenizer} (tokenizers, chat templates, tool calls), {@code dev.panamax.grammar} (constrained
 * output: GBNF and JSON Schema), {@code dev.panamax.tools} (quantize, perplexity), {@code dev.panamax.embed} (embeddings, pooling, reranking), {@code dev.panamax.metrics} (the engine's Micrometer meters; Micrometer optional) and {@code dev.panamax.gguf} (reading
 * and writing GGUF files). The other packages are the implementation: kernels (the C core through FFM and the Java
 * backend), the model code, the serving engine's scheduler; they are open to the project's own CLI, server and
 * benchmarks only.
 */
module dev.panamax {
    requires jdk.incubator.vector;
    requires org.slf4j;
    requires com.fasterxml.jackson.databind;
    requires jinjava;
    requires java.desktop; // java.beans: the EL resolver API that Jinjava's resolvers implement
    requires jdk.management;
    requires static micrometer.core; // dev.panamax.metrics only: optional at run time
    requires jdk.jfr; // the engine's flight recorder events (dev.panamax.EngineStep, dev.panamax.Request) // the chat template sandbox bounds what a render allocates (ThreadMXBean)

    exports dev.panamax;
    exports dev.panamax.sampling;
    exports dev.panamax.tokenizer;
    exports dev.panamax.gguf;
    exports dev.panamax.grammar;
    exports dev.panamax.tools;
    exports dev.panamax.embed;
    exports dev.panamax.metrics;
    exports dev.panamax.engine to dev.panamax.cli, dev.panamax.server;
    exports dev.panamax.kernels to dev.panamax.cli, dev.panamax.server, dev.panamax.benchmarks;
    exports dev.panamax.model to dev.panamax.cli, dev.panamax.benchmarks;
    exports dev.panamax.tensor to dev.panamax.cli, dev.panamax.benchmarks;
    exports dev.panamax.ffi to dev.panamax.benchmarks;
}
