package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The load generator of {@code scripts/bench-serve.sh}: K concurrent streaming clients (a virtual thread each,
 * java.net.http over HTTP/1.1 keep-alive) against a running server. Every round sends K {@code /v1/completions}
 * requests at once, each a prompt of P random token ids (fixed seed, new ones every round so that none comes from
 * the prefix cache: what {@code panamax bench --parallel K} feeds the engine) with {@code max_tokens} G, greedy, {@code stream: true} and
 * {@code include_usage}; an untimed warm-up round comes first. Reports requests/s and generated tok/s over the timed
 * rounds' wall time, time to first token (request sent to first text event) and inter-token latency (gaps between
 * text events) p50/p99, the part of each request's time to first token that HTTP and JSON add (the client's minus the
 * engine's own, which the server reports in {@code timings.first_token_ms}), and the aggregate decode speed as the engine's bench defines it (tokens after every request has
 * its first one, over the time from then to the last one; best round). Given the engine bench's JSON it prints the
 * ratio. Requests ask for {@code ignore_eos} (llama-server's field, which Panamax's server takes too) so that every one
 * generates G tokens on any server. {@code --summary-out} writes the client-side figures as one JSON object, and
 * {@code --other F --other-name N} prints them beside another server's (llama-server's, in bench-serve.sh).
 *
 * <pre>
 * java -cp server/target/test-classes:server/target/panamax-server.jar dev.panamax.server.LoadGenerator \
 *     --url http://127.0.0.1:8080 --model M --clients 8 --prompt 64 --gen 32 --rounds 3 [--vocab 32000] [--engine-json F]
 *     [--summary-out F] [--other F --other-name N]
 * </pre>
 */
public final class LoadGenerator {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One request: when it was sent, when each text event arrived, the tokens usage reported, and the server's
     * {@code timings.first_token_ms} (the engine's part of the time to first token; NaN when absent) and
     * {@code timings.predicted_per_token_ms} (the engine's time per generated token after the first) and
     * {@code timings.first_token_sent_ms} (the request's arrival in the server to its first text written).
     */
    record Sample(long sent, long[] events, int tokens, String finish, double engineFirstMs, double engineTokenMs, double serverSentMs) {}

    record Round(List<Sample> samples, long wallNanos, double decodeTps) {}

    private LoadGenerator() {}

    public static void main(String[] args) throws Exception {
        String url = "http://127.0.0.1:8080", model = null, engineJson = null, summaryOut = null, other = null, otherName = "other";
        int clients = 8, prompt = 64, gen = 32, rounds = 3, vocab = 32000;
        long seed = 42;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--url" -> url = v;
                case "--model" -> model = v;
                case "--clients" -> clients = Integer.parseInt(v);
                case "--prompt" -> prompt = Integer.parseInt(v);
                case "--gen" -> gen = Integer.parseInt(v);
                case "--rounds" -> rounds = Integer.parseInt(v);
                case "--vocab" -> vocab = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--engine-json" -> engineJson = v;
                case "--summary-out" -> summaryOut = v;
                case "--other" -> other = v;
                case "--other-name" -> otherName = v;
                default -> throw new IllegalArgumentException("unknown argument " + a);
            }
            i++;
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newVirtualThreadPerTaskExecutor()).connectTimeout(Duration.ofSeconds(10)).build();
        if (model == null) model = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(url + "/v1/models")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).path("data").path(0).path("id").asText();
        SplittableRandom r = new SplittableRandom(seed);
        round(http, url, model, prompts(r, clients, prompt, vocab), Math.min(8, gen)); // warm-up: connections, JIT
        List<Round> timed = new ArrayList<>();
        for (int i = 0; i < rounds; i++) timed.add(round(http, url, model, prompts(r, clients, prompt, vocab), gen));

        long wall = 0, tokens = 0, requests = 0, short_ = 0;
        List<Double> ttft = new ArrayList<>(), itl = new ArrayList<>(), added = new ArrayList<>(), engTok = new ArrayList<>(),
                inServer = new ArrayList<>();
        double bestDecode = 0;
        for (Round rd : timed) {
            wall += rd.wallNanos();
            bestDecode = Math.max(bestDecode, rd.decodeTps());
            for (Sample s : rd.samples()) {
                requests++;
                tokens += s.tokens();
                if (s.tokens() < gen) short_++;
                if (s.events().length > 0) {
                    ttft.add((s.events()[0] - s.sent()) / 1e6);
                    if (!Double.isNaN(s.engineFirstMs())) added.add((s.events()[0] - s.sent()) / 1e6 - s.engineFirstMs());
                    if (!Double.isNaN(s.engineTokenMs())) engTok.add(s.engineTokenMs());
                    if (!Double.isNaN(s.serverSentMs())) inServer.add(s.serverSentMs() - s.engineFirstMs());
                }
                for (int j = 1; j < s.events().length; j++) itl.add((s.events()[j] - s.events()[j - 1]) / 1e6);
            }
        }
        double sec = wall / 1e9;
        double ttft50 = pct(ttft, 50), ttft99 = pct(ttft, 99), itl50 = pct(itl, 50), itl99 = pct(itl, 99);
        System.out.printf(Locale.ROOT, "HTTP: %d clients x %d rounds, /v1/completions stream, prompt %d ids, max_tokens %d, greedy%n",
                clients, rounds, prompt, gen);
        if (short_ > 0) System.out.printf(Locale.ROOT, "note: %d requests ended before %d tokens (end of generation)%n", short_, gen);
        System.out.println();
        System.out.println("| metric | HTTP (streaming clients) | engine (`bench --parallel`) | HTTP / engine |");
        System.out.println("|---|---|---|---|");
        JsonNode eng = null;
        if (engineJson != null) {
            for (String line : Files.readAllLines(Path.of(engineJson))) if (line.startsWith("{")) eng = JSON.readTree(line);
        }
        double engTg = eng == null ? Double.NaN : eng.path("agg_tg_tps").asDouble(Double.NaN);
        double engTtft50 = eng == null ? Double.NaN : eng.path("ttft_ms_p50").asDouble(Double.NaN);
        double engTtft99 = eng == null ? Double.NaN : eng.path("ttft_ms_p99").asDouble(Double.NaN);
        double engStep50 = eng == null ? Double.NaN : eng.path("step_ms_p50").asDouble(Double.NaN);
        double engStep99 = eng == null ? Double.NaN : eng.path("step_ms_p99").asDouble(Double.NaN);
        row("aggregate decode tok/s (best round)", f(bestDecode), f(engTg), pctOf(bestDecode, engTg));
        row("generated tok/s over wall time", f(tokens / sec), "", "");
        row("requests/s", String.format(Locale.ROOT, "%.2f", requests / sec), "", "");
        row("time to first token p50 / p99 (ms)", f(ttft50) + " / " + f(ttft99), f(engTtft50) + " / " + f(engTtft99),
                Double.isNaN(engTtft50) ? "" : String.format(Locale.ROOT, "%+.1f ms p50", ttft50 - engTtft50));
        row("time to first token added by HTTP and JSON p50 / p99 (ms)", f(pct(added, 50)) + " / " + f(pct(added, 99)), "",
                "client's minus the engine's own (`timings.first_token_ms`), per request");
        row("... of which inside the server p50 / p99 (ms)", f(pct(inServer, 50)) + " / " + f(pct(inServer, 99)), "",
                "`first_token_sent_ms` - `first_token_ms`: the rest is the client library and loopback");
        row("inter-token latency p50 / p99 (ms)", f(itl50) + " / " + f(itl99), f(engStep50) + " / " + f(engStep99) + " (step)",
                pctOf(itl50, engStep50) + " p50");
        row("engine ms per token after the first, p50 (HTTP run: `timings`; bench: step)", f(pct(engTok, 50)), f(engStep50),
                pctOf(pct(engTok, 50), engStep50));

        ObjectNode summary = JSON.createObjectNode().put("agg_tg_tps", bestDecode).put("tps_wall", tokens / sec)
                .put("requests_per_s", requests / sec).put("ttft_ms_p50", ttft50).put("ttft_ms_p99", ttft99)
                .put("itl_ms_p50", itl50).put("itl_ms_p99", itl99).put("short_requests", short_);
        if (summaryOut != null) Files.writeString(Path.of(summaryOut), summary + "\n");
        if (other != null) compare(summary, JSON.readTree(Files.readString(Path.of(other))), otherName);
    }

    /** This run's client-side figures beside another server's (same clients, prompts and lengths): higher is better above, lower below. */
    private static void compare(JsonNode ours, JsonNode theirs, String name) {
        System.out.println();
        System.out.println("| metric (same clients, prompts, lengths) | this server | " + name + " | ratio |");
        System.out.println("|---|---|---|---|");
        for (String[] m : new String[][] {{"agg_tg_tps", "aggregate decode tok/s (best round)"},
                {"tps_wall", "generated tok/s over wall time"}, {"requests_per_s", "requests/s"}}) {
            double a = ours.path(m[0]).asDouble(Double.NaN), b = theirs.path(m[0]).asDouble(Double.NaN);
            row(m[1], f2(a), f2(b), String.format(Locale.ROOT, "%.2fx", a / b));
        }
        for (String[] m : new String[][] {{"ttft_ms", "time to first token"}, {"itl_ms", "inter-token latency"}}) {
            double a50 = ours.path(m[0] + "_p50").asDouble(Double.NaN), b50 = theirs.path(m[0] + "_p50").asDouble(Double.NaN);
            double a99 = ours.path(m[0] + "_p99").asDouble(Double.NaN), b99 = theirs.path(m[0] + "_p99").asDouble(Double.NaN);
            row(m[1] + " p50 / p99 (ms)", f(a50) + " / " + f(a99), f(b50) + " / " + f(b99),
                    String.format(Locale.ROOT, "%.2fx / %.2fx of theirs", a50 / b50, a99 / b99));
        }
    }

    private static String f2(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v);
    }

    private static void row(String name, String http, String engine, String ratio) {
        System.out.println("| " + name + " | " + http + " | " + engine + " | " + ratio + " |");
    }

    private static String f(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String pctOf(double a, double b) {
        return Double.isNaN(b) || b == 0 ? "" : String.format(Locale.ROOT, "%.1f%%", 100 * a / b);
    }

    /** The p-th percentile (nearest rank); NaN for none. Also SoakClient's. */
    static double pct(List<Double> xs, double p) {
        if (xs.isEmpty()) return Double.NaN;
        double[] a = xs.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        int i = (int) Math.ceil(p / 100 * a.length) - 1;
        return a[Math.max(0, Math.min(a.length - 1, i))];
    }

    /** One round's prompts: new ids every round, as the engine bench draws them. */
    private static int[][] prompts(SplittableRandom r, int clients, int prompt, int vocab) {
        int[][] prompts = new int[clients][];
        for (int i = 0; i < clients; i++) prompts[i] = r.ints(prompt, 3, vocab).toArray();
        return prompts;
    }

    private static Round round(HttpClient http, String url, String model, int[][] prompts, int gen) throws Exception {
        List<Future<Sample>> fs = new ArrayList<>();
        long t0 = System.nanoTime();
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int[] p : prompts) fs.add(ex.submit(() -> request(http, url, model, p, gen)));
        }
        long end = System.nanoTime();
        List<Sample> samples = new ArrayList<>();
        for (Future<Sample> f : fs) samples.add(f.get());
        long allFirst = 0, last = 0;
        for (Sample s : samples) {
            if (s.events().length == 0) continue;
            allFirst = Math.max(allFirst, s.events()[0]);
            last = Math.max(last, s.events()[s.events().length - 1]);
        }
        // tokens after every request has its first one; a text event carries one token but for a held-back piece
        // (an incomplete UTF-8 sequence), so events are scaled by the tokens the usage reported
        double after = 0;
        final long since = allFirst;
        for (Sample s : samples) {
            int n = s.events().length;
            long later = Arrays.stream(s.events()).filter(t -> t > since).count();
            after += n == 0 ? 0 : later * (double) s.tokens() / n;
        }
        double decode = last > allFirst ? after / ((last - allFirst) / 1e9) : 0;
        return new Round(samples, end - t0, decode);
    }

    private static Sample request(HttpClient http, String url, String model, int[] prompt, int gen) throws IOException, InterruptedException {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        ArrayNode ids = body.putArray("prompt");
        for (int id : prompt) ids.add(id);
        body.put("max_tokens", gen).put("temperature", 0.0).put("stream", true).put("ignore_eos", true);
        body.putObject("stream_options").put("include_usage", true);
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long sent = System.nanoTime();
        HttpResponse<java.io.InputStream> resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        long[] events = new long[gen + 4];
        int n = 0, tokens = -1;
        double engineFirstMs = Double.NaN, engineTokenMs = Double.NaN, serverSentMs = Double.NaN;
        String finish = null;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
            if (resp.statusCode() != 200) throw new IOException("HTTP " + resp.statusCode() + ": " + in.readLine());
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ")) continue;
                long now = System.nanoTime();
                String data = line.substring(6);
                if (data.equals("[DONE]")) break;
                JsonNode o = JSON.readTree(data);
                if (o.has("error")) throw new IOException("stream error: " + o.get("error"));
                JsonNode c = o.path("choices").path(0);
                if (!c.path("text").asText("").isEmpty()) {
                    if (n == events.length) events = Arrays.copyOf(events, n * 2);
                    events[n++] = now;
                }
                if (c.hasNonNull("finish_reason")) finish = c.get("finish_reason").asText();
                if (o.has("timings")) {
                    engineFirstMs = o.get("timings").path("first_token_ms").asDouble(Double.NaN);
                    engineTokenMs = o.get("timings").path("predicted_per_token_ms").asDouble(Double.NaN);
                    serverSentMs = o.get("timings").path("first_token_sent_ms").asDouble(Double.NaN);
                }
                if (o.hasNonNull("usage")) tokens = o.get("usage").path("completion_tokens").asInt();
            }
        }
        if (tokens < 0) throw new IOException("the stream ended without usage");
        return new Sample(sent, Arrays.copyOf(events, n), tokens, finish, engineFirstMs, engineTokenMs, serverSentMs);
    }
}
