package dev.panamax.springai.autoconfigure;

import dev.panamax.CacheType;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code panamax.*}: the GGUF file to serve and how.
 *
 * @param model     the GGUF file (required: without it nothing is configured)
 * @param threads   kernel threads (0: the machine's choice)
 * @param context   positions per sequence (0: min(the model's, 4096))
 * @param parallel  sequences decoded together (the engine's batch)
 * @param cacheType KV cache storage (f16, f32)
 * @param embeddingModel a GGUF encoder for the Spring AI {@code EmbeddingModel} (optional, independent of {@code model})
 */
@ConfigurationProperties("panamax")
public record PanamaxProperties(String model, Integer threads, Integer context, Integer parallel, CacheType cacheType, String embeddingModel) {
    public PanamaxProperties {
        if (threads == null) threads = 0;
        if (context == null) context = 0;
        if (parallel == null) parallel = 8;
        if (cacheType == null) cacheType = CacheType.F16;
    }
}
