/**
 * Spring AI on an in-process Panamax {@link dev.panamax.Engine}: {@link dev.panamax.springai.PanamaxChatModel} (call
 * and stream), {@link dev.panamax.springai.PanamaxEmbeddingModel}, {@link dev.panamax.springai.PanamaxChatOptions}, the engine's Micrometer meters (the library's {@link
 * dev.panamax.metrics.EngineMeters}, bound to the application's registry) and the Boot auto-configurations ({@code panamax.model=...}, {@code panamax.embedding-model=...}). Contract: requests
 * become {@link dev.panamax.ChatCall}s (the model's chat template, tools in its syntax, grammars for required calls
 * and output schemas); the engine belongs to whoever made it (the auto-configuration closes its own with the context).
 */
package dev.panamax.springai;
