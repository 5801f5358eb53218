package dev.panamax.springai.autoconfigure;

import dev.panamax.Model;
import dev.panamax.springai.PanamaxEmbeddingModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

/**
 * With {@code panamax.embedding-model=/path/encoder.gguf} (e.g. all-MiniLM-L6-v2 converted with {@code panamax
 * convert}): a Spring AI {@link PanamaxEmbeddingModel} on that file, loaded with {@code panamax.threads} and closed with
 * the context. Independent of {@code panamax.model} (the chat model): a service usually has both, in two files.
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = "panamax", name = "embedding-model")
@EnableConfigurationProperties(PanamaxProperties.class)
public class PanamaxEmbeddingAutoConfiguration {

    /** The embedding model's file, loaded; not a {@link Model} bean, so it never stands in for the chat model. */
    public record EmbeddingModelFile(Model model) implements AutoCloseable {
        @Override
        public void close() {
            model.close();
        }
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public EmbeddingModelFile panamaxEmbeddingModelFile(PanamaxProperties p) {
        Path file = Path.of(p.embeddingModel());
        if (!Files.isRegularFile(file)) throw new IllegalStateException("panamax.embedding-model: no such file: " + file.toAbsolutePath());
        try {
            return new EmbeddingModelFile(Model.load(file, Model.Options.defaults().withThreads(p.threads())));
        } catch (IOException e) {
            throw new UncheckedIOException("panamax.embedding-model: cannot load " + file + ": " + e.getMessage(), e);
        }
    }

    @Bean
    @ConditionalOnMissingBean
    public PanamaxEmbeddingModel panamaxEmbeddingModel(EmbeddingModelFile file) {
        return new PanamaxEmbeddingModel(file.model());
    }
}
