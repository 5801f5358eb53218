package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.metrics.EngineMeters;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.core.metrics.Info;

/**
 * The server's Prometheus metrics (Micrometer): HTTP requests by status, the library's engine meters ({@link
 * EngineMeters}: tokens, the engine's load, latencies, under the names the Spring starter uses too); and the same
 * engine counters under vLLM's names for the routers that read those. The prefix-cache counters count a request's
 * prompt tokens (queries) and the ones its KV came from the cache for (hits) when the request ends. vLLM's request
 * histograms have vLLM's bucket boundaries (vllm/v1/metrics/loggers.py), so that its dashboards and recording rules
 * read them unchanged; the per-token ones (time_per_output_token, inter_token_latency) observe each request's mean gap
 * once per gap, so their sum and count are vLLM's (decode time, gaps) while the spread within a request is not seen.
 */
final class ServerMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final EngineMeters engineMeters;
    private final Counter[] prefixQueries, prefixHits; // vLLM's name and its older gpu_ alias, counted together
    private final Counter vllmPromptTokens, vllmGenerationTokens;
    private final DistributionSummary vllmTtft, vllmE2e, vllmQueue, vllmPromptHist, vllmGenerationHist, vllmRequestTpot;
    private final DistributionSummary[] vllmTokenGaps; // time_per_output_token and its newer name inter_token_latency
    private final Tags vllmTags;

    // vLLM's bucket boundaries (seconds)
    static final double[] TTFT_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
            7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
    static final double[] TOKEN_GAP_BUCKETS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
            7.5, 10.0, 20.0, 40.0, 80.0};
    static final double[] REQUEST_LATENCY_BUCKETS = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
            50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

    /** vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to max (the context length). */
    static double[] oneTwoFive(int max) {
        java.util.List<Double> out = new java.util.ArrayList<>();
        for (long scale = 1; ; scale *= 10) {
            for (int m : new int[] {1, 2, 5}) {
                if (m * scale > max) return out.stream().mapToDouble(Double::doubleValue).toArray();
                out.add((double) (m * scale));
            }
        }
    }

    ServerMetrics(Engine engine, String modelId) {
        engineMeters = new EngineMeters(engine);
        engineMeters.bindTo(registry);
        // vLLM's names, read without configuration by the Gateway API Inference Extension's endpoint picker and vLLM's
        // production-stack router (and vLLM's dashboards), labelled as vLLM labels them
        Tags vllm = Tags.of("model_name", modelId, "engine", "0");
        vllmTags = vllm;
        Gauge.builder("vllm:num_requests_waiting", engine, e -> e.stats().waiting()).tags(vllm)
                .description("Number of requests waiting to be processed.").register(registry);
        Gauge.builder("vllm:num_requests_running", engine, e -> e.stats().running()).tags(vllm)
                .description("Number of requests in model execution batches.").register(registry);
        for (String name : new String[] {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}) {
            Gauge.builder(name, engine, EngineMeters::kvUsage).tags(vllm)
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
        vllmPromptTokens = Counter.builder("vllm:prompt_tokens").tags(vllm).description("Number of prefill tokens processed.").register(registry);
        vllmGenerationTokens = Counter.builder("vllm:generation_tokens").tags(vllm).description("Number of generation tokens processed.").register(registry);
        vllmTtft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS);
        vllmE2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", REQUEST_LATENCY_BUCKETS);
        vllmQueue = histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", REQUEST_LATENCY_BUCKETS);
        double[] tokenBuckets = oneTwoFive(engine.contextLength());
        vllmPromptHist = histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokenBuckets);
        vllmGenerationHist = histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", tokenBuckets);
        vllmTokenGaps = new DistributionSummary[] {
                histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", TOKEN_GAP_BUCKETS),
                histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", TOKEN_GAP_BUCKETS)};
        vllmRequestTpot = histogram("vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.", TOKEN_GAP_BUCKETS);
    }

    /** A histogram with vLLM's name, labels and these bucket boundaries (and no others). */
    private DistributionSummary histogram(String name, String help, double[] buckets) {
        return DistributionSummary.builder(name).tags(vllmTags).description(help).serviceLevelObjectives(buckets).register(registry);
    }

    void request(String endpoint, int status) {
        Counter.builder("panamax.http.requests").description("HTTP requests by endpoint and status")
                .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
    }

    /** One engine request ended (on the engine's thread: counters only). */
    void finished(Generation g) {
        engineMeters.finished(g);
        for (Counter c : prefixQueries) c.increment(g.promptTokens().length);
        for (Counter c : prefixHits) c.increment(g.cachedTokens());
        int n = g.tokens().length;
        vllmPromptTokens.increment(g.promptTokens().length);
        vllmGenerationTokens.increment(n);
        Counter.builder("vllm:request_success").tags(vllmTags).tag("finished_reason", vllmFinishReason(g.stop()))
                .description("Count of successfully processed requests.").register(registry).increment();
        vllmPromptHist.record(g.promptTokens().length);
        vllmGenerationHist.record(n);
        vllmQueue.record(g.queueMs() / 1e3);
        if (g.totalMs() >= 0) vllmE2e.record(g.totalMs() / 1e3);
        if (n > 0 && g.ttftMs() > 0) vllmTtft.record(g.ttftMs() / 1e3);
        if (n > 1 && g.decodeTps() > 0) {
            double gap = 1.0 / g.decodeTps();
            vllmRequestTpot.record(gap);
            for (DistributionSummary h : vllmTokenGaps) for (int i = 1; i < n; i++) h.record(gap);
        }
    }

    /** vLLM's finished_reason values: stop, length, abort. */
    private static String vllmFinishReason(Generation.StopReason r) {
        return switch (r) {
            case LENGTH, CONTEXT_FULL -> "length";
            case CANCELLED -> "abort";
            case END_OF_GENERATION, STOP_STRING, NO_ALLOWED_TOKEN -> "stop";
        };
    }

    String scrape() {
        return registry.scrape();
    }
}
