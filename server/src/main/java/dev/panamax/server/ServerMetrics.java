package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.Generation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Locale;

/** The server's Prometheus metrics (Micrometer): HTTP requests by status, tokens, the engine's load, latencies. */
final class ServerMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens, generatedTokens, cachedTokens;
    private final Timer ttft;
    private final DistributionSummary tpot;

    ServerMetrics(Engine engine) {
        Gauge.builder("panamax.requests.waiting", engine, e -> e.stats().waiting())
                .description("requests queued in the engine").register(registry);
        Gauge.builder("panamax.requests.running", engine, e -> e.stats().running())
                .description("sequences the engine is decoding").register(registry);
        Gauge.builder("panamax.kv.blocks.used", engine, e -> e.stats().kvBlocksUsed())
                .description("KV pool blocks held by sequences").register(registry);
        Gauge.builder("panamax.kv.blocks.capacity", engine, e -> e.stats().kvBlocksTotal())
                .description("KV pool blocks").register(registry);
        Gauge.builder("panamax.kv.usage.ratio", engine, e -> {
            Engine.Stats s = e.stats();
            return s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
        }).description("fraction of the KV pool held by sequences").register(registry);
        // the names vLLM's router and dashboards read
        Gauge.builder("vllm:num_requests_waiting", engine, e -> e.stats().waiting()).register(registry);
        Gauge.builder("vllm:num_requests_running", engine, e -> e.stats().running()).register(registry);
        Gauge.builder("vllm:kv_cache_usage_perc", engine, e -> {
            Engine.Stats s = e.stats();
            return s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
        }).register(registry);
        // speculative decoding, with vLLM's names (drafted and accepted tokens, verify passes = vLLM's drafts)
        FunctionCounter.builder("vllm:spec_decode_num_drafts", engine, e -> e.specStats().passes())
                .description("verify passes of a sequence with drafted tokens").register(registry);
        FunctionCounter.builder("vllm:spec_decode_num_draft_tokens", engine, e -> e.specStats().drafted())
                .description("drafted tokens verified").register(registry);
        FunctionCounter.builder("vllm:spec_decode_num_accepted_tokens", engine, e -> e.specStats().accepted())
                .description("drafted tokens accepted").register(registry);
        Gauge.builder("panamax.spec.tokens.per.pass", engine, e -> e.specStats().tokensPerPass())
                .description("tokens per verify pass since the engine opened (1: speculation gained nothing)").register(registry);
        promptTokens = Counter.builder("panamax.prompt.tokens").description("prompt tokens of finished requests").register(registry);
        generatedTokens = Counter.builder("panamax.generation.tokens").description("generated tokens").register(registry);
        cachedTokens = Counter.builder("panamax.prompt.cached.tokens").description("prompt tokens served from the prefix cache").register(registry);
        ttft = Timer.builder("panamax.time.to.first.token").description("engine time from submit to the first token")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(2))
                .register(registry);
        tpot = DistributionSummary.builder("panamax.time.per.output.token.seconds").description("seconds per generated token after the first")
                .publishPercentileHistogram().minimumExpectedValue(1e-4).maximumExpectedValue(10.0).register(registry);
    }

    void request(String endpoint, int status) {
        Counter.builder("panamax.http.requests").description("HTTP requests by endpoint and status")
                .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
    }

    /** One engine request ended (on the engine's thread: counters only). */
    void finished(Generation g) {
        promptTokens.increment(g.promptTokens().length);
        generatedTokens.increment(g.tokens().length);
        cachedTokens.increment(g.cachedTokens());
        Counter.builder("panamax.requests.finished").description("engine requests by why they ended")
                .tag("reason", g.stop().name().toLowerCase(Locale.ROOT)).register(registry).increment();
        if (g.tokens().length > 0 && g.ttftMs() >= 0) ttft.record(Duration.ofNanos((long) (g.ttftMs() * 1e6)));
        if (g.tokens().length > 1 && g.decodeTps() > 0) tpot.record(1.0 / g.decodeTps());
    }

    String scrape() {
        return registry.scrape();
    }
}
