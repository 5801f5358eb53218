package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.sampling.SamplingParams;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What routers read from a replica: vLLM's metric names in /metrics (parsed as Prometheus text, checked against the
 * engine's state), /health (live) apart from /ready (can take work), and the drain of {@link Server#close()}.
 */
class RouterFacingTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient http = HttpClient.newHttpClient();
    @TempDir
    static Path dir;
    static Model model;

    @BeforeAll
    static void load() throws Exception {
        model = TestServers.loadModel(dir);
    }

    @AfterAll
    static void close() {
        http.close();
        if (model != null) model.close();
    }

    // ------------------------------------------------------------------------------------------ Prometheus text

    /** One sample: its name, labels and value. */
    record Sample(String name, Map<String, String> labels, double value) {}

    /** A metric family: its TYPE and samples. */
    record Family(String type, List<Sample> samples) {}

    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern SAMPLE = Pattern.compile("(" + NAME + ")(?:\\{(.*)})? (\\S+)(?: -?\\d+)?");
    private static final Pattern LABEL = Pattern.compile("\\s*([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"\\s*(,|$)");

    /**
     * Parses the text exposition format 0.0.4 strictly, as the scrapers do (Go's expfmt in the endpoint picker, Python's
     * prometheus_client in the production-stack router): every sample follows the TYPE line of its family (a counter's
     * family is named with its _total), names are legal, each family is typed once, label values are quoted.
     */
    static Map<String, Family> parse(String text) {
        Map<String, Family> families = new LinkedHashMap<>();
        String current = null;
        for (String line : text.split("\n")) {
            if (line.isEmpty()) continue;
            if (line.startsWith("# HELP ")) continue;
            if (line.startsWith("# TYPE ")) {
                String[] p = line.substring(7).split(" ");
                assertEquals(2, p.length, line);
                assertTrue(NAME.matcher(p[0]).matches(), "metric name " + p[0]);
                assertTrue(List.of("counter", "gauge", "histogram", "summary", "untyped").contains(p[1]), line);
                assertFalse(families.containsKey(p[0]), "typed twice: " + p[0]);
                families.put(p[0], new Family(p[1], new ArrayList<>()));
                current = p[0];
                continue;
            }
            assertFalse(line.startsWith("#"), "unknown comment line: " + line);
            Matcher m = SAMPLE.matcher(line);
            assertTrue(m.matches(), "not a sample line: " + line);
            String name = m.group(1);
            assertNotNull(current, "a sample before any TYPE: " + line);
            Family f = families.get(current);
            boolean belongs = switch (f.type()) {
                case "histogram" -> name.equals(current + "_bucket") || name.equals(current + "_sum") || name.equals(current + "_count")
                        || name.equals(current + "_max");
                case "summary" -> name.equals(current) || name.equals(current + "_sum") || name.equals(current + "_count");
                default -> name.equals(current);
            };
            assertTrue(belongs, "sample " + name + " under the TYPE of " + current);
            if (f.type().equals("counter")) assertTrue(name.endsWith("_total"), "a counter's sample ends with _total: " + name);
            Map<String, String> labels = new HashMap<>();
            if (m.group(2) != null && !m.group(2).isEmpty()) {
                Matcher l = LABEL.matcher(m.group(2));
                int at = 0;
                while (at < m.group(2).length()) {
                    assertTrue(l.find(at) && l.start() == at, "labels of " + line);
                    labels.put(l.group(1), l.group(2));
                    at = l.end();
                }
            }
            String v = m.group(3);
            double value = switch (v) {
                case "+Inf" -> Double.POSITIVE_INFINITY;
                case "-Inf" -> Double.NEGATIVE_INFINITY;
                case "NaN" -> Double.NaN;
                default -> Double.parseDouble(v);
            };
            f.samples().add(new Sample(name, labels, value));
        }
        return families;
    }

    static Map<String, Family> scrape(Server s) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(s.baseUri() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain"), r.headers().toString());
        return parse(r.body());
    }

    /** The one sample of a family (vLLM's are labelled model_name and engine), checking its type. */
    static Sample one(Map<String, Family> m, String family, String type) {
        Family f = m.get(family);
        assertNotNull(f, family + " in " + m.keySet());
        assertEquals(type, f.type(), family);
        assertEquals(1, f.samples().size(), family + ": " + f.samples());
        return f.samples().getFirst();
    }

    static double vllm(Map<String, Family> m, String family, String type) {
        Sample s = one(m, family, type);
        assertEquals(TestServers.MODEL_ID, s.labels().get("model_name"), family + " " + s.labels());
        assertEquals("0", s.labels().get("engine"), family + " " + s.labels());
        return s.value();
    }

    static HttpResponse<String> post(Server s, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(s.baseUri() + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(Server s, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(s.baseUri() + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    // ------------------------------------------------------------------------------------------ tests

    @Test
    void vllmMetricNamesFollowTheEngine() throws Exception {
        try (Engine engine = TestServers.engine(model, 8); Server s = Server.start(engine, TestServers.config())) {
            Engine.Stats idle = engine.stats();
            Map<String, Family> m = scrape(s);
            assertEquals(0, vllm(m, "vllm:num_requests_waiting", "gauge"));
            assertEquals(0, vllm(m, "vllm:num_requests_running", "gauge"));
            assertEquals(0, vllm(m, "vllm:kv_cache_usage_perc", "gauge"));
            assertEquals(0, vllm(m, "vllm:gpu_cache_usage_perc", "gauge"));
            Sample info = one(m, "vllm:cache_config_info", "gauge");
            assertEquals(1, info.value());
            assertEquals(Integer.toString(idle.blockSize()), info.labels().get("block_size"));
            assertEquals(Integer.toString(idle.kvBlocksTotal()), info.labels().get("num_gpu_blocks"));
            Sample lora = one(m, "vllm:lora_requests_info", "gauge");
            assertEquals("0", lora.labels().get("max_lora"));
            assertEquals("", lora.labels().get("running_lora_adapters"));

            // 6 long requests over the engine's 4 sequences: 4 running, 2 waiting, part of the KV pool in use
            List<RequestHandle> handles = new ArrayList<>();
            int[] prompt = model.tokenizer().encode("the metrics of a busy engine");
            for (int i = 0; i < 6; i++) {
                handles.add(engine.submit(new GenerationRequest(prompt, TestServers.CTX - prompt.length - 1, SamplingParams.greedy(), List.of())));
            }
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (true) {
                    m = scrape(s);
                    double running = vllm(m, "vllm:num_requests_running", "gauge"), waiting = vllm(m, "vllm:num_requests_waiting", "gauge");
                    if (running == 4 && waiting == 2) break;
                    if (System.nanoTime() > deadline) fail("never 4 running + 2 waiting: " + running + " + " + waiting);
                }
                double usage = vllm(m, "vllm:kv_cache_usage_perc", "gauge");
                assertTrue(usage > 0 && usage <= 1, "KV usage " + usage);
                double old = vllm(m, "vllm:gpu_cache_usage_perc", "gauge");
                assertTrue(old > 0 && old <= 1, "the older name " + old);
            } finally {
                for (RequestHandle h : handles) h.cancel();
            }
            HttpApiTest.awaitIdle(engine);

            // prefix cache: the same prompt twice; counters in tokens, as the usage of each response reports them
            Map<String, Family> before = scrape(s);
            int[] ids = new int[100];
            for (int i = 0; i < ids.length; i++) ids[i] = 3 + (i * 7) % 200;
            String body = JSON.createObjectNode().put("max_tokens", 1).set("prompt", JSON.valueToTree(ids)).toString();
            long cachedSum = 0;
            for (int round = 0; round < 2; round++) {
                HttpResponse<String> r = post(s, "/v1/completions", body);
                assertEquals(200, r.statusCode(), r.body());
                JsonNode usage = JSON.readTree(r.body()).get("usage");
                assertEquals(ids.length, usage.get("prompt_tokens").asInt());
                long cached = usage.get("prompt_tokens_details").get("cached_tokens").asLong();
                if (round == 1) {
                    int block = idle.blockSize();
                    assertEquals((ids.length - 1) / block * block, cached, "the second request takes the whole blocks of the first");
                }
                cachedSum += cached;
            }
            Map<String, Family> after = scrape(s);
            for (String prefix : new String[] {"vllm:", "vllm:gpu_"}) {
                double queries = vllm(after, prefix + "prefix_cache_queries_total", "counter")
                        - vllm(before, prefix + "prefix_cache_queries_total", "counter");
                double hits = vllm(after, prefix + "prefix_cache_hits_total", "counter") - vllm(before, prefix + "prefix_cache_hits_total", "counter");
                assertEquals(2.0 * ids.length, queries, prefix + "prefix_cache_queries_total counts prompt tokens");
                assertEquals(cachedSum, hits, prefix + "prefix_cache_hits_total counts cached prompt tokens");
                assertTrue(hits > 0);
            }
            // Panamax's own names are still there
            assertEquals("counter", after.get("panamax_prompt_cached_tokens_total").type());
            assertEquals("gauge", after.get("panamax_requests_running").type());
        }
    }

    /**
     * A histogram family: TYPE histogram, vLLM's labels, exactly these bucket boundaries then +Inf, cumulative counts,
     * +Inf's count = _count. Returns {count, sum, count of the bucket le=at (or -1)}.
     */
    static double[] histogram(Map<String, Family> m, String family, double[] bounds, double at) {
        Family f = m.get(family);
        assertNotNull(f, family + " in " + m.keySet());
        assertEquals("histogram", f.type(), family);
        List<Double> les = new ArrayList<>();
        List<Double> counts = new ArrayList<>();
        double count = Double.NaN, sum = Double.NaN, atCount = -1;
        for (Sample x : f.samples()) {
            assertEquals(TestServers.MODEL_ID, x.labels().get("model_name"), family + " " + x.labels());
            assertEquals("0", x.labels().get("engine"), family + " " + x.labels());
            if (x.name().endsWith("_bucket")) {
                double le = Double.parseDouble(x.labels().get("le").replace("+Inf", "Infinity"));
                les.add(le);
                counts.add(x.value());
                if (le == at) atCount = x.value();
            } else if (x.name().endsWith("_count")) {
                count = x.value();
            } else if (x.name().endsWith("_sum")) {
                sum = x.value();
            }
        }
        assertEquals(bounds.length + 1, les.size(), family + " buckets " + les);
        for (int i = 0; i < bounds.length; i++) assertEquals(bounds[i], les.get(i), family + " bucket " + i);
        assertEquals(Double.POSITIVE_INFINITY, les.getLast(), family);
        for (int i = 1; i < counts.size(); i++) assertTrue(counts.get(i) >= counts.get(i - 1), family + " cumulative " + counts);
        assertEquals(count, counts.getLast(), family + ": +Inf holds every observation");
        return new double[] {count, sum, atCount};
    }

    @Test
    void vllmRequestHistogramsHaveVllmsBucketsAndTheEngineTimings() throws Exception {
        try (Engine engine = TestServers.engine(model, 8); Server s = Server.start(engine, TestServers.config())) {
            int requests = 3, maxTokens = 5; // the model never ends on its own: every request generates 5 tokens
            long promptTokens = 0;
            long t0 = System.nanoTime();
            for (int i = 0; i < requests; i++) {
                HttpResponse<String> r = post(s, "/v1/completions", "{\"prompt\":\"histogram " + i + "\",\"max_tokens\":" + maxTokens
                        + ",\"temperature\":0}");
                assertEquals(200, r.statusCode(), r.body());
                promptTokens += JSON.readTree(r.body()).get("usage").get("prompt_tokens").asLong();
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            Map<String, Family> m = scrape(s);
            double[] tokenBuckets = ServerMetrics.oneTwoFive(engine.contextLength());
            assertEquals(1.0, tokenBuckets[0]);
            assertEquals(1000.0, tokenBuckets[9], "1, 2, 5, 10, ... 1000 (vLLM's build_1_2_5_buckets)");
            double[] gen = histogram(m, "vllm:request_generation_tokens", tokenBuckets, 5);
            assertEquals(requests, gen[0]);
            assertEquals(requests * maxTokens, gen[1]);
            assertEquals(requests, gen[2], "5 tokens each: all in le=5");
            assertEquals(0, histogram(m, "vllm:request_generation_tokens", tokenBuckets, 2)[2]);
            double[] prompt = histogram(m, "vllm:request_prompt_tokens", tokenBuckets, -1);
            assertEquals(requests, prompt[0]);
            assertEquals(promptTokens, prompt[1]);
            double[] ttft = histogram(m, "vllm:time_to_first_token_seconds", ServerMetrics.TTFT_BUCKETS, -1);
            double[] e2e = histogram(m, "vllm:e2e_request_latency_seconds", ServerMetrics.REQUEST_LATENCY_BUCKETS, -1);
            double[] queue = histogram(m, "vllm:request_queue_time_seconds", ServerMetrics.REQUEST_LATENCY_BUCKETS, -1);
            assertEquals(requests, ttft[0]);
            assertEquals(requests, e2e[0]);
            assertEquals(requests, queue[0]);
            assertTrue(ttft[1] > 0 && ttft[1] < e2e[1], "TTFT " + ttft[1] + " s within e2e " + e2e[1] + " s");
            assertTrue(queue[1] >= 0 && queue[1] <= ttft[1], "queue " + queue[1] + " s within TTFT " + ttft[1] + " s");
            assertTrue(e2e[1] <= wall, "e2e " + e2e[1] + " s within the client's " + wall + " s");
            double[] tpot = histogram(m, "vllm:time_per_output_token_seconds", ServerMetrics.TOKEN_GAP_BUCKETS, -1);
            double[] itl = histogram(m, "vllm:inter_token_latency_seconds", ServerMetrics.TOKEN_GAP_BUCKETS, -1);
            assertEquals(requests * (maxTokens - 1), tpot[0], "one observation per gap between tokens");
            assertEquals(tpot[0], itl[0]);
            assertEquals(tpot[1], itl[1], 1e-9);
            assertTrue(tpot[1] > 0 && tpot[1] + ttft[1] <= e2e[1] + 1e-6, "decode " + tpot[1] + " + TTFT " + ttft[1] + " <= e2e " + e2e[1]);
            assertEquals(requests, histogram(m, "vllm:request_time_per_output_token_seconds", ServerMetrics.TOKEN_GAP_BUCKETS, -1)[0]);
            assertEquals(requests * maxTokens, vllm(m, "vllm:generation_tokens_total", "counter"));
            assertEquals(promptTokens, vllm(m, "vllm:prompt_tokens_total", "counter"));
            Sample ok = one(m, "vllm:request_success_total", "counter");
            assertEquals("length", ok.labels().get("finished_reason"));
            assertEquals(requests, ok.value());
        }
    }

    @Test
    void deployDocQuotesTheTestedHaproxyConfig() throws Exception {
        String cfg = java.nio.file.Files.readString(Haproxy.CONFIG).strip();
        String doc = java.nio.file.Files.readString(Haproxy.CONFIG.resolveSibling("deploy.md"));
        assertTrue(doc.contains("```\n" + cfg + "\n```"), "docs/deploy.md quotes docs/haproxy.cfg (HaproxyReplicasTest's) as it is");
    }

    @Test
    void closeTurnsReadyOffThenDrainsThenStops() throws Exception {
        try (Engine engine = TestServers.engine(model, 8)) {
            Server s = Server.start(engine, TestServers.config().withShutdownTimeout(Duration.ofSeconds(30)));
            URI base = s.baseUri();
            assertEquals(200, get(s, "/ready").statusCode());
            assertEquals(200, get(s, "/health").statusCode());
            int max = 1900;
            HttpRequest req = HttpRequest.newBuilder(URI.create(s.baseUri() + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompt\":\"a long story\",\"max_tokens\":" + max + ",\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"))
                    .build();
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    http.send(req, HttpResponse.BodyHandlers.ofLines()).body().forEach(lines::add);
                } catch (Exception e) {
                    lines.add("client error: " + e);
                }
                lines.add("<end>");
            });
            String first = lines.poll(20, TimeUnit.SECONDS);
            assertNotNull(first);
            assertTrue(first.startsWith("data: {"), first);

            Thread closer = Thread.ofVirtual().start(s::close);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            HttpResponse<String> ready;
            while ((ready = get(s, "/ready")).statusCode() == 200) {
                if (System.nanoTime() > deadline) fail("/ready still 200 5 s after close()");
                Thread.sleep(1);
            }
            // draining: not ready, still live, new work refused with a clear 503; the running stream goes on
            assertEquals(503, ready.statusCode());
            assertEquals("shutting_down", JSON.readTree(ready.body()).get("error").get("code").asText());
            assertEquals(200, get(s, "/health").statusCode(), "the process is alive while it drains");
            HttpResponse<String> refused = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}");
            assertEquals(503, refused.statusCode(), refused.body());
            JsonNode err = JSON.readTree(refused.body()).get("error");
            assertEquals("shutting_down", err.get("code").asText());
            assertTrue(err.get("message").asText().contains("takes no new ones"), refused.body());
            assertTrue(reader.isAlive() && closer.isAlive(), "the stream still runs while the server refuses new work");

            reader.join(60_000);
            closer.join(60_000);
            assertFalse(closer.isAlive(), "close() returns once drained");
            List<String> all = new ArrayList<>(lines);
            assertEquals("<end>", all.getLast());
            assertTrue(all.contains("data: [DONE]"), "the stream ran to its end: " + all.getLast());
            String usage = all.stream().filter(l -> l.contains("\"usage\":{")).findFirst().orElseThrow();
            assertEquals(max, JSON.readTree(usage.substring(6)).get("usage").get("completion_tokens").asInt());
            // then HTTP is gone
            assertThrows(ConnectException.class, () -> http.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
    }
}
