package dev.panamax.metrics;

import dev.panamax.Engine;
import dev.panamax.Generation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.Locale;

/**
 * An engine's meters: load gauges ({@code panamax.requests.running}, {@code panamax.requests.waiting}, {@code
 * panamax.kv.blocks.used}, {@code panamax.kv.blocks.capacity}, {@code panamax.kv.usage.ratio}, {@code
 * panamax.spec.tokens.per.pass}) and, per finished request ({@link #finished}), token counters ({@code
 * panamax.prompt.tokens}, {@code panamax.prompt.cached.tokens}, {@code panamax.generation.tokens}), {@code
 * panamax.requests.finished} by reason, the {@code panamax.time.to.first.token} timer and the {@code
 * panamax.time.per.output.token.seconds} summary (both with percentile histograms).
 */
public final class EngineMeters implements MeterBinder {
    private final Engine engine;
    private volatile Bound bound;

    private record Bound(MeterRegistry registry, Counter prompt, Counter cached, Counter generated, Timer ttft,
                         DistributionSummary tpot) {}

    public EngineMeters(Engine engine) {
        this.engine = engine;
    }

    @Override
    public void bindTo(MeterRegistry r) {
        Gauge.builder("panamax.requests.waiting", engine, e -> e.stats().waiting())
                .description("requests queued in the engine").register(r);
        Gauge.builder("panamax.requests.running", engine, e -> e.stats().running())
                .description("sequences the engine is decoding").register(r);
        Gauge.builder("panamax.kv.blocks.used", engine, e -> e.stats().kvBlocksUsed())
                .description("KV pool blocks held by sequences").register(r);
        Gauge.builder("panamax.kv.blocks.capacity", engine, e -> e.stats().kvBlocksTotal())
                .description("KV pool blocks").register(r);
        Gauge.builder("panamax.kv.usage.ratio", engine, EngineMeters::kvUsage)
                .description("fraction of the KV pool held by sequences").register(r);
        Gauge.builder("panamax.spec.tokens.per.pass", engine, e -> e.specStats().tokensPerPass())
                .description("tokens per verify pass since the engine opened (1: speculation gained nothing)").register(r);
        bound = new Bound(r,
                Counter.builder("panamax.prompt.tokens").description("prompt tokens of finished requests").register(r),
                Counter.builder("panamax.prompt.cached.tokens").description("prompt tokens served from the prefix cache").register(r),
                Counter.builder("panamax.generation.tokens").description("generated tokens").register(r),
                Timer.builder("panamax.time.to.first.token").description("engine time from submit to the first token")
                        .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                        .maximumExpectedValue(Duration.ofMinutes(2)).register(r),
                DistributionSummary.builder("panamax.time.per.output.token.seconds")
                        .description("seconds per generated token after the first")
                        .publishPercentileHistogram().minimumExpectedValue(1e-4).maximumExpectedValue(10.0).register(r));
    }

    /** One engine request ended (any thread, the engine's too: counters only). Before {@link #bindTo}: ignored. */
    public void finished(Generation g) {
        Bound b = bound;
        if (b == null) return;
        b.prompt.increment(g.promptTokens().length);
        b.generated.increment(g.tokens().length);
        b.cached.increment(g.cachedTokens());
        Counter.builder("panamax.requests.finished").description("engine requests by why they ended")
                .tag("reason", g.stop().name().toLowerCase(Locale.ROOT)).register(b.registry).increment();
        if (g.tokens().length > 0 && g.ttftMs() >= 0) b.ttft.record(Duration.ofNanos((long) (g.ttftMs() * 1e6)));
        if (g.tokens().length > 1 && g.decodeTps() > 0) b.tpot.record(1.0 / g.decodeTps());
    }

    /** The fraction of the engine's KV pool held by sequences (0 for an empty pool). */
    public static double kvUsage(Engine e) {
        Engine.Stats s = e.stats();
        return s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
    }
}
