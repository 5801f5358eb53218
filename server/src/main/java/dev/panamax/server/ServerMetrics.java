package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.Generation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.core.metrics.Info;
import java.time.Duration;
import java.util.Locale;

/**
 * The server's Prometheus metrics (Micrometer): HTTP requests by status, tokens, the engine's load, latencies; and the
 * same engine counters under vLLM's names for the routers that read those. The prefix-cache counters count a request's
 * prompt tokens (queries) and the ones its KV came from the cache for (hits) when the request ends.
 */
final class ServerMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens, generatedTokens, cachedTokens;
    private final Counter[] prefixQueries, prefixHits; // vLLM's name and its older gpu_ alias, counted together
    private final Timer ttft;
    private final DistributionSummary tpot;

    ServerMetrics(Engine engine, String modelId) {
        Gauge.builder("panamax.requests.waiting", engine, e -> e.stats().waiting())
                .description("requests queued in the engine").register(registry);
        Gauge.builder("panamax.requests.running", engine, e -> e.stats().running())
                .description("sequences the engine is decoding").register(registry);
        Gauge.builder("panamax.kv.blocks.used", engine, e -> e.stats().kvBlocksUsed())
                .description("KV pool blocks held by sequences").register(registry);
        Gauge.builder("panamax.kv.blocks.capacity", engine, e -> e.stats().kvBlocksTotal())
                .description("KV pool blocks").register(registry);
        Gauge.builder("panamax.kv.usage.ratio", engine, ServerMetrics::kvUsage)
                .description("fraction of the KV pool held by sequences").register(registry);
        // vLLM's names, read without configuration by the Gateway API Inference Extension's endpoint picker and vLLM's
        // production-stack router (and vLLM's dashboards), labelled as vLLM labels them
        Tags vllm = Tags.of("model_name", modelId, "engine", "0");
        Gauge.builder("vllm:num_requests_waiting", engine, e -> e.stats().waiting()).tags(vllm)
                .description("Number of requests waiting to be processed.").register(registry);
        Gauge.builder("vllm:num_requests_running", engine, e -> e.stats().running()).tags(vllm)
                .description("Number of requests in model execution batches.").register(registry);
        for (String name : new String[] {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}) {
            Gauge.builder(name, engine, ServerMetrics::kvUsage).tags(vllm)
                    .description("KV-cache usage. 1 means 100 percent usage.").register(registry);
        }
        String queries = "Prefix cache queries, in terms of number of queried tokens.";
        String hits = "Prefix cache hits, in terms of number of cached tokens.";
        prefixQueries = new Counter[] {
                Counter.builder("vllm:prefix_cache_queries").tags(vllm).description(queries).register(registry),
                Counter.builder("vllm:gpu_prefix_cache_queries").tags(vllm).description(queries + " (the older name)").register(registry)};
        prefixHits = new Counter[] {
                Counter.builder("vllm:prefix_cache_hits").tags(vllm).description(hits).register(registry),
                Counter.builder("vllm:gpu_prefix_cache_hits").tags(vllm).description(hits + " (the older name)").register(registry)};
        // info metrics (a gauge of 1 whose labels carry the values), with client_java's Info: Micrometer would drop
        // the _info of their names. The endpoint picker reads block_size and num_gpu_blocks
        Engine.Stats s = engine.stats();
        Info.builder().name("vllm:cache_config_info").help("Information of the LLMEngine CacheConfig")
                .labelNames("engine", "block_size", "num_gpu_blocks").register(registry.getPrometheusRegistry())
                .setLabelValues("0", Integer.toString(s.blockSize()), Integer.toString(s.kvBlocksTotal()));
        // no LoRA adapters: the picker's LoRA affinity sees none running, none waiting, none loadable (and logs no
        // missing-metric error every scrape)
        Info.builder().name("vllm:lora_requests_info").help("Running stats on lora requests.")
                .labelNames("max_lora", "running_lora_adapters", "waiting_lora_adapters").register(registry.getPrometheusRegistry())
                .setLabelValues("0", "", "");
        // speculative decoding, with vLLM's names (drafted and accepted tokens, verify passes = vLLM's drafts)
        FunctionCounter.builder("vllm:spec_decode_num_drafts", engine, e -> e.specStats().passes()).tags(vllm)
                .description("verify passes of a sequence with drafted tokens").register(registry);
        FunctionCounter.builder("vllm:spec_decode_num_draft_tokens", engine, e -> e.specStats().drafted()).tags(vllm)
                .description("drafted tokens verified").register(registry);
        FunctionCounter.builder("vllm:spec_decode_num_accepted_tokens", engine, e -> e.specStats().accepted()).tags(vllm)
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
        for (Counter c : prefixQueries) c.increment(g.promptTokens().length);
        for (Counter c : prefixHits) c.increment(g.cachedTokens());
        Counter.builder("panamax.requests.finished").description("engine requests by why they ended")
                .tag("reason", g.stop().name().toLowerCase(Locale.ROOT)).register(registry).increment();
        if (g.tokens().length > 0 && g.ttftMs() >= 0) ttft.record(Duration.ofNanos((long) (g.ttftMs() * 1e6)));
        if (g.tokens().length > 1 && g.decodeTps() > 0) tpot.record(1.0 / g.decodeTps());
    }

    private static double kvUsage(Engine e) {
        Engine.Stats s = e.stats();
        return s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
    }

    String scrape() {
        return registry.scrape();
    }
}
