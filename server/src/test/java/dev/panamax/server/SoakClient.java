package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
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
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The client side of {@code scripts/soak.sh}: K streaming clients (a virtual thread each) send requests back to back
 * for a given time against a running server — completions and chat, prompts of 8-256 random token ids, 16-128 tokens,
 * sampled with their own seeds — and one request in ten is dropped by its client at a random point (mid-prompt or
 * mid-stream). Every minute it prints one line: requests finished, failed (any HTTP error, error event, or stream that
 * ends without [DONE]), dropped, time to first token and inter-token latency p50/p99 in that minute, the server's
 * resident memory (from /proc when given its pid) and its KV blocks in use. At the end it waits for the server to go
 * idle and checks: no failed request, every KV block back, resident memory after the warm-up minute within 5% of its
 * level at the end. Exit status 1 when a check fails.
 *
 * <pre>
 * java -cp server/target/test-classes:server/target/panamax-server.jar dev.panamax.server.SoakClient \
 *     --url http://127.0.0.1:8080 --clients 32 --minutes 30 [--pid PID] [--vocab 32000]
 * </pre>
 */
public final class SoakClient {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SoakClient() {}

    public static void main(String[] args) throws Exception {
        String url = "http://127.0.0.1:8080";
        int clients = 32, vocab = 32000;
        double minutes = 30;
        long pid = -1;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--url" -> url = v;
                case "--clients" -> clients = Integer.parseInt(v);
                case "--minutes" -> minutes = Double.parseDouble(v);
                case "--pid" -> pid = Long.parseLong(v);
                case "--vocab" -> vocab = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newVirtualThreadPerTaskExecutor()).connectTimeout(Duration.ofSeconds(10)).build();
        String model = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(url + "/v1/models")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).path("data").path(0).path("id").asText();
        long end = System.nanoTime() + (long) (minutes * 60e9);
        AtomicLong ok = new AtomicLong(), failed = new AtomicLong(), dropped = new AtomicLong();
        ConcurrentLinkedQueue<Double> ttft = new ConcurrentLinkedQueue<>(), itl = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        final String u = url, m = model;
        final int vs = vocab;
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            SplittableRandom r = new SplittableRandom(1000 + c);
            threads.add(Thread.ofVirtual().start(() -> {
                while (System.nanoTime() < end) {
                    try {
                        int outcome = request(http, u, m, r, vs, ttft, itl);
                        if (outcome == 0) ok.incrementAndGet();
                        else dropped.incrementAndGet();
                    } catch (Exception e) {
                        failed.incrementAndGet();
                        if (errors.size() < 20) errors.add(e.toString());
                    }
                }
            }));
        }
        System.out.printf(Locale.ROOT, "soak: %d clients for %.1f min against %s (%s)%n", clients, minutes, url, model);
        System.out.println("| minute | finished | failed | dropped by client | TTFT p50 / p99 ms | ITL p50 / p99 ms | RSS MiB | KV blocks used |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
        List<Long> rss = new ArrayList<>();
        long lastOk = 0, lastFailed = 0, lastDropped = 0;
        for (int minute = 1; System.nanoTime() < end; minute++) {
            long wake = Math.min(end, System.nanoTime() + 60_000_000_000L);
            while (System.nanoTime() < wake) Thread.sleep(Math.max(1, Math.min(1000, (wake - System.nanoTime()) / 1_000_000)));
            List<Double> t = drain(ttft), g = drain(itl);
            long mem = rssKiB(pid);
            rss.add(mem);
            System.out.printf(Locale.ROOT, "| %d | %d | %d | %d | %.0f / %.0f | %.1f / %.1f | %s | %s |%n", minute, ok.get() - lastOk,
                    failed.get() - lastFailed, dropped.get() - lastDropped, LoadGenerator.pct(t, 50), LoadGenerator.pct(t, 99),
                    LoadGenerator.pct(g, 50), LoadGenerator.pct(g, 99),
                    mem < 0 ? "-" : Long.toString(mem / 1024), metric(http, url, "panamax_kv_blocks_used"));
            lastOk = ok.get();
            lastFailed = failed.get();
            lastDropped = dropped.get();
        }
        for (Thread th : threads) th.join();
        // idle: every block and queue slot must come back
        double kv = Double.NaN, waiting = Double.NaN, running = Double.NaN;
        for (int i = 0; i < 100; i++) {
            kv = number(metric(http, url, "panamax_kv_blocks_used"));
            waiting = number(metric(http, url, "panamax_requests_waiting"));
            running = number(metric(http, url, "panamax_requests_running"));
            if (kv == 0 && waiting == 0 && running == 0) break;
            Thread.sleep(100);
        }
        System.out.printf(Locale.ROOT, "%nsoak: %d finished, %d failed, %d dropped by their clients; idle: %.0f KV blocks used, %.0f waiting, %.0f running%n",
                ok.get(), failed.get(), dropped.get(), kv, waiting, running);
        boolean pass = failed.get() == 0 && kv == 0 && waiting == 0 && running == 0 && ok.get() > 0;
        if (rss.size() >= 3 && rss.get(1) > 0) {
            double growth = (rss.get(rss.size() - 1) - rss.get(1)) / (double) rss.get(1);
            System.out.printf(Locale.ROOT, "soak: resident memory after the warm-up minute %d MiB, at the end %d MiB (%+.1f%%)%n",
                    rss.get(1) / 1024, rss.get(rss.size() - 1) / 1024, 100 * growth);
            if (growth > 0.05) pass = false;
        }
        for (String e : errors) System.out.println("soak: error: " + e);
        System.out.println(pass ? "soak: PASS" : "soak: FAIL");
        System.exit(pass ? 0 : 1);
    }

    /** One request; 0 when it completed, 1 when its client dropped it on purpose. */
    private static int request(HttpClient http, String url, String model, SplittableRandom r, int vocab,
                               ConcurrentLinkedQueue<Double> ttft, ConcurrentLinkedQueue<Double> itl) throws Exception {
        boolean chat = r.nextInt(3) == 0;
        int gen = 16 + r.nextInt(113);
        boolean drop = r.nextInt(10) == 0;
        int dropAfter = drop ? r.nextInt(gen / 2 + 1) : -1; // 0: before the first token (mid-prompt)
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model).put("max_tokens", gen).put("stream", true).put("temperature", 0.8).put("seed", r.nextInt());
        if (chat) {
            StringBuilder text = new StringBuilder();
            for (int i = 0, n = 4 + r.nextInt(60); i < n; i++) text.append((char) ('a' + r.nextInt(26))).append(i % 5 == 4 ? " " : "");
            body.putArray("messages").addObject().put("role", "user").put("content", text.toString());
        } else {
            ArrayNode ids = body.putArray("prompt");
            for (int i = 0, n = 8 + r.nextInt(249); i < n; i++) ids.add(3 + r.nextInt(vocab - 3));
        }
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + (chat ? "/v1/chat/completions" : "/v1/completions")))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(5))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long sent = System.nanoTime(), last = 0;
        HttpResponse<java.io.InputStream> resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        int events = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
            if (resp.statusCode() != 200) throw new IllegalStateException("HTTP " + resp.statusCode() + ": " + in.readLine());
            if (dropAfter == 0) return 1; // closing the stream now drops the request during its prompt
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ")) continue;
                String data = line.substring(6);
                if (data.equals("[DONE]")) return 0;
                JsonNode o = JSON.readTree(data);
                if (o.has("error")) throw new IllegalStateException("error event: " + o.get("error"));
                JsonNode c = o.path("choices").path(0);
                String piece = chat ? c.path("delta").path("content").asText("") : c.path("text").asText("");
                if (piece.isEmpty()) continue;
                long now = System.nanoTime();
                if (events == 0) ttft.add((now - sent) / 1e6);
                else itl.add((now - last) / 1e6);
                last = now;
                if (++events == dropAfter) return 1;
            }
        }
        throw new IllegalStateException("the stream ended without [DONE]");
    }

    private static double number(String s) {
        try {
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    private static List<Double> drain(ConcurrentLinkedQueue<Double> q) {
        List<Double> out = new ArrayList<>();
        for (Double d; (d = q.poll()) != null; ) out.add(d);
        return out;
    }

    /** VmRSS of the process in KiB (-1 when unknown). */
    private static long rssKiB(long pid) {
        if (pid <= 0) return -1;
        try {
            for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        } catch (Exception e) {
            // the server is gone: reported as unknown
        }
        return -1;
    }

    /** A gauge or counter's value from /metrics ("-" when absent). */
    private static String metric(HttpClient http, String url, String name) {
        try {
            String text = http.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            for (String l : text.split("\n")) {
                if (l.startsWith(name + " ") || l.startsWith(name + "{")) return l.substring(l.lastIndexOf(' ') + 1);
            }
        } catch (Exception e) {
            // reported as absent
        }
        return "-";
    }
}
