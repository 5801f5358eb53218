package dev.panamax.springai;

import dev.panamax.Engine;
import dev.panamax.Generation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.Locale;

/**
 * The engine's Micrometer meters, under the names the Panamax server exports: load gauges ({@code
 * panamax.requests.running}, {@code panamax.requests.waiting}, {@code panamax.kv.blocks.used}, {@code
 * panamax.kv.blocks.capacity}), and per finished request ({@link #finished}) token counters ({@code
 * panamax.prompt.tokens}, {@code panamax.prompt.cached.tokens}, {@code panamax.generation.tokens}), {@code
 * panamax.requests.finished} by reason and the {@code panamax.time.to.first.token} timer.
 */
public final class EngineMeters implements MeterBinder {
    private final Engine engine;
    private volatile Counter prompt, cached, generated;
    private volatile Timer ttft;
    private volatile MeterRegistry registry;

    public EngineMeters(Engine engine) {
        this.engine = engine;
    }

    @Override
    public void bindTo(MeterRegistry r) {
        Gauge.builder("panamax.requests.running", engine, e -> e.stats().running()).description("sequences the engine is decoding").register(r);
        Gauge.builder("panamax.requests.waiting", engine, e -> e.stats().waiting()).description("requests queued in the engine").register(r);
        Gauge.builder("panamax.kv.blocks.used", engine, e -> e.stats().kvBlocksUsed()).description("KV pool blocks held by sequences").register(r);
        Gauge.builder("panamax.kv.blocks.capacity", engine, e -> e.stats().kvBlocksTotal()).description("KV pool blocks").register(r);
        prompt = Counter.builder("panamax.prompt.tokens").description("prompt tokens of finished requests").register(r);
        cached = Counter.builder("panamax.prompt.cached.tokens").description("prompt tokens served from the prefix cache").register(r);
        generated = Counter.builder("panamax.generation.tokens").description("generated tokens").register(r);
        ttft = Timer.builder("panamax.time.to.first.token").description("engine time from submit to the first token").register(r);
        registry = r;
    }

    /** One request ended (any thread; counters only). */
    public void finished(Generation g) {
        MeterRegistry r = registry;
        if (r == null) return;
        prompt.increment(g.promptTokens().length);
        cached.increment(g.cachedTokens());
        generated.increment(g.tokens().length);
        if (g.ttftMs() > 0) ttft.record(Duration.ofNanos((long) (g.ttftMs() * 1e6)));
        Counter.builder("panamax.requests.finished").description("engine requests by why they ended")
                .tag("reason", g.stop().name().toLowerCase(Locale.ROOT)).register(r).increment();
    }
}
