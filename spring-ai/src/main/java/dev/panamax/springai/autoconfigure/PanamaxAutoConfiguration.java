package dev.panamax.springai.autoconfigure;

import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.metrics.EngineMeters;
import dev.panamax.springai.PanamaxChatModel;
import dev.panamax.springai.PanamaxChatOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * With {@code panamax.model=/path/model.gguf}: the {@link Model} and its {@link Engine} (closed with the context), a
 * Spring AI {@link PanamaxChatModel} (also the streaming model), with Micrometer the engine's meters (bound to the
 * application's registry by Boot) and, with Actuator, a health indicator ({@code panamax}: up while the engine is open,
 * with its load).
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = "panamax", name = "model")
@EnableConfigurationProperties(PanamaxProperties.class)
public class PanamaxAutoConfiguration {

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public Model panamaxModel(PanamaxProperties p) {
        Path file = Path.of(p.model());
        if (!Files.isRegularFile(file)) throw new IllegalStateException("panamax.model: no such file: " + file.toAbsolutePath());
        try {
            return Model.load(file, Model.Options.defaults().withThreads(p.threads()).withCacheType(p.cacheType()));
        } catch (IOException e) {
            throw new UncheckedIOException("panamax.model: cannot load " + file + ": " + e.getMessage(), e);
        }
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public Engine panamaxEngine(Model model, PanamaxProperties p) {
        return model.newEngine(Engine.Config.defaults().withMaxSequences(p.parallel()).withContextLength(p.context()).withThreads(p.threads()));
    }

    /**
     * The chat model; every {@code Consumer<Generation>} bean (the meters' when Micrometer is present, and the
     * application's own) is told of each finished generation, on the engine's thread.
     */
    @Bean
    @ConditionalOnMissingBean
    public PanamaxChatModel panamaxChatModel(Engine engine, ObjectProvider<Consumer<Generation>> listeners) {
        List<Consumer<Generation>> all = listeners.orderedStream().toList();
        return new PanamaxChatModel(engine, PanamaxChatOptions.builder().build(), g -> all.forEach(l -> l.accept(g)));
    }

    /** Only with Micrometer on the class path: a service without it gets the engine and models, no meters. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.micrometer.core.instrument.binder.MeterBinder")
    static class Meters_ {
        @Bean
        @ConditionalOnMissingBean
        EngineMeters panamaxMeters(Engine engine) {
            return new EngineMeters(engine);
        }

        @Bean
        Consumer<Generation> panamaxMetersListener(EngineMeters meters) {
            return meters::finished;
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(HealthIndicator.class)
    static class Health_ {
        @Bean
        @ConditionalOnMissingBean(name = "panamaxHealthIndicator")
        HealthIndicator panamaxHealthIndicator(Engine engine) {
            return () -> {
                if (engine.isClosed()) return Health.down().withDetail("engine", "closed").build();
                Engine.Stats s = engine.stats();
                return Health.up().withDetail("model", engine.model().architecture()).withDetail("kernels", engine.kernelsName())
                        .withDetail("running", s.running()).withDetail("waiting", s.waiting())
                        .withDetail("kvBlocksUsed", s.kvBlocksUsed()).withDetail("kvBlocksTotal", s.kvBlocksTotal()).build();
            };
        }
    }
}
