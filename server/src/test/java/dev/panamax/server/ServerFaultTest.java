package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.Model;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server under hostile input and faults (issue 17's server half): thousands of malformed requests generated from
 * valid ones (truncated and corrupted bytes, invalid UTF-8, every field given every wrong type, extreme numbers, token
 * ids outside the vocabulary, deep nesting), and hundreds of clients that vanish at random points of their exchange.
 * The server must answer each malformed request with a 4xx in OpenAI's error shape (or a 200 when the mutation left a
 * valid request), never a 5xx; stay up; and hold no request, queue slot or KV block once the clients are gone.
 */
class ServerFaultTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Model model;
    static Engine engine;
    static Server server;
    static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void start() throws Exception {
        model = TestServers.loadModel(dir);
        engine = TestServers.engine(model, 64);
        server = Server.start(engine, TestServers.config());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
        http.close();
    }

    static final String CHAT = "{\"model\":\"tiny-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":2,"
            + "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":10,\"seed\":3,\"stop\":[\"x\"],\"n\":1,\"stream\":false}";
    static final String COMPLETION = "{\"model\":\"tiny-chat\",\"prompt\":[1,5,6],\"max_tokens\":2,\"temperature\":0,\"echo\":false}";
    static final Object[] WRONG = {null, "text", "", -1, 0, 1L << 62, -1e308, 1e308, 3.5, true, List.of(), List.of(1, "a"),
            Map.of(), Map.of("a", Map.of("b", 1))};

    /** Every mutation of the valid bodies, deterministic. */
    static List<String[]> malformed() throws Exception {
        List<String[]> out = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(17);
        for (String[] base : new String[][] {{"/v1/chat/completions", CHAT}, {"/v1/completions", COMPLETION}}) {
            String path = base[0], body = base[1];
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            for (int cut = 0; cut < bytes.length; cut += 3) out.add(new String[] {path, new String(bytes, 0, cut, StandardCharsets.ISO_8859_1)});
            for (int i = 0; i < 800; i++) { // byte flips, including bytes that are not UTF-8
                byte[] b = bytes.clone();
                for (int k = 1 + r.nextInt(3); k > 0; k--) b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                out.add(new String[] {path, new String(b, StandardCharsets.ISO_8859_1)});
            }
            // every field, every wrong type
            @SuppressWarnings("unchecked")
            Map<String, Object> valid = JSON.readValue(body, Map.class);
            for (String field : valid.keySet()) {
                for (Object w : WRONG) {
                    Map<String, Object> m = new TreeMap<>(valid);
                    m.put(field, w);
                    out.add(new String[] {path, JSON.writeValueAsString(m)});
                }
            }
            for (String extra : new String[] {"logit_bias", "logprobs", "top_logprobs", "n", "max_tokens", "best_of", "tools",
                    "response_format", "presence_penalty", "unknown_field", "suffix", "stream_options", "user", "tool_choice",
                    "parallel_tool_calls", "grammar", "json_schema", "frequency_penalty", "ignore_eos"}) {
                for (Object w : WRONG) {
                    Map<String, Object> m = new TreeMap<>(valid);
                    m.put(extra, w);
                    out.add(new String[] {path, JSON.writeValueAsString(m)});
                }
            }
        }
        // token ids outside the vocabulary, extreme counts, deep nesting, a huge string
        for (String p : new String[] {"[-1]", "[300]", "[2147483647]", "[[1,2],[1,-5]]", "[[]]", "[]", "\"\"", "[1.5]"}) {
            out.add(new String[] {"/v1/completions", "{\"prompt\":" + p + ",\"max_tokens\":2}"});
        }
        // grammars, schemas, tools and biases that cannot be used, and extremes
        for (String extra : new String[] {"\"grammar\":\"root ::= (\"", "\"grammar\":\"root ::= root \\\"a\\\"\"", "\"grammar\":\"x ::= \\\"a\\\"\"",
                "\"grammar\":\"" + "root ::= (".repeat(3000) + "\"", "\"json_schema\":{\"type\":\"object\",\"not\":{}}",
                "\"json_schema\":{\"$ref\":\"#/$defs/missing\"}", "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":[]}}",
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":\"string\",\"pattern\":\"((((\"}}}",
                "\"logit_bias\":{\"-1\":5}", "\"logit_bias\":{\"99999999999\":5}", "\"logit_bias\":{\"1\":1e308}",
                "\"top_logprobs\":21,\"logprobs\":true", "\"logprobs\":true,\"top_logprobs\":-1",
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"not\":{}}}}],\"tool_choice\":\"required\"",
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"" + "f".repeat(100) + "\"}}]",
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}},\"tools\":[]"}) {
            out.add(new String[] {"/v1/chat/completions", CHAT.replace("\"n\":1", "\"n\":1," + extra)});
        }
        for (String n : new String[] {"-1", "0", "17", "1000000", "1e9"}) {
            out.add(new String[] {"/v1/chat/completions", CHAT.replace("\"n\":1", "\"n\":" + n)});
        }
        out.add(new String[] {"/v1/chat/completions", "[".repeat(20_000) + "]".repeat(20_000)});
        out.add(new String[] {"/v1/chat/completions", CHAT.replace("\"hello\"", "{\"a\":".repeat(5_000) + "1" + "}".repeat(5_000))});
        out.add(new String[] {"/v1/completions", "{\"prompt\":\"" + "a".repeat(3_000_000) + "\",\"max_tokens\":1}"});
        out.add(new String[] {"/tokenize", "{\"content\":12}"});
        out.add(new String[] {"/detokenize", "{\"tokens\":[-1,99999999]}"});
        out.add(new String[] {"/detokenize", "{\"tokens\":\"abc\"}"});
        return out;
    }

    @Test
    void thousandsOfMalformedRequestsGet4xxAndTheServerStaysUp() throws Exception {
        List<String[]> cases = malformed();
        assertTrue(cases.size() >= 2000, cases.size() + " cases");
        Map<Integer, Integer> byStatus = new TreeMap<>();
        for (String[] c : cases) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(server.baseUri() + c[0]))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(c[1].getBytes(StandardCharsets.ISO_8859_1)))
                    .header("Content-Type", "application/json").build();
            HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
            byStatus.merge(r.statusCode(), 1, Integer::sum);
            String what = c[0] + " " + (c[1].length() > 200 ? c[1].substring(0, 200) + "..." : c[1]) + " -> " + r.statusCode() + " " + r.body();
            assertTrue(r.statusCode() == 200 || r.statusCode() >= 400 && r.statusCode() < 500, what);
            if (r.statusCode() == 200) { // the mutation left a valid request (a stream, when "stream" became true)
                assertTrue(r.body().startsWith("data: ") || JSON.readTree(r.body()).has("choices")
                        || JSON.readTree(r.body()).has("tokens") || JSON.readTree(r.body()).has("content"), what);
            } else {
                JsonNode err = JSON.readTree(r.body()).get("error");
                assertTrue(err != null && err.has("message") && err.has("type") && err.has("code") && err.has("param"), what);
                assertTrue(!r.body().contains("\tat ") && !r.body().contains("dev.panamax."), what);
            }
        }
        System.out.println("ServerFaultTest: " + cases.size() + " malformed requests, statuses " + byStatus);
        assertTrue(byStatus.keySet().stream().anyMatch(s -> s >= 400), "some were refused");
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
        HttpApiTest.awaitIdle(engine);
    }

    @Test
    void clientsVanishingAtRandomPointsLeaveNothingBehind() throws Exception {
        SplittableRandom r = new SplittableRandom(23);
        ExecutorService pool = Executors.newFixedThreadPool(12);
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            long seed = r.nextLong();
            fs.add(pool.submit(() -> {
                vanishingClient(new SplittableRandom(seed));
                return null;
            }));
        }
        for (Future<?> f : fs) f.get(120, TimeUnit.SECONDS);
        pool.shutdown();
        HttpApiTest.awaitIdle(engine);
        // and it still serves
        HttpResponse<String> ok = http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":[1,5],\"max_tokens\":3,\"temperature\":0}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ok.statusCode(), ok.body());
    }

    /**
     * Thousands of headers, a header line of 1 MiB and a 100 MB body: Jetty's 8 KiB header limit answers 431 and the
     * body limit 413, both in OpenAI's error shape, without buffering what the client sends; the heap the server
     * holds afterwards is back near where it started, and it still serves.
     */
    @Test
    void headerFloodsAndHugeBodiesAreRefusedWithoutHoldingMemory() throws Exception {
        long before = heapAfterGc();
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 5000; i++) many.append("X-Flood-").append(i).append(": ").append(i).append("\r\n");
        String body = "{\"prompt\":[1,5],\"max_tokens\":1}";
        for (String headers : new String[] {many.toString(), "X-Long: " + "a".repeat(1 << 20) + "\r\n"}) {
            String reply = rawExchange("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + headers
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
            assertTrue(reply.startsWith("HTTP/1.1 431"), reply.lines().findFirst().orElse(reply));
            JsonNode err = JSON.readTree(reply.substring(reply.indexOf("\r\n\r\n") + 4)).get("error");
            assertTrue(err != null && err.has("message") && err.has("code"), reply);
        }
        long hundredMb = 100L << 20;
        for (int round = 0; round < 2; round++) {
            HttpRequest big = HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> new ZeroStream(hundredMb)), hundredMb))
                    .header("Content-Type", "application/json").build();
            int status;
            try {
                HttpResponse<String> r = http.send(big, HttpResponse.BodyHandlers.ofString());
                status = r.statusCode();
                assertEquals(413, status, r.body());
                assertTrue(JSON.readTree(r.body()).get("error").has("message"), r.body());
            } catch (IOException reset) {
                // the server closed the connection after its 413 while the client was still sending: allowed, the
                // point is that it read at most 4x its limit and holds nothing
                status = -1;
            }
            assertTrue(status == 413 || status == -1);
        }
        long after = heapAfterGc();
        assertTrue(after - before < 64L << 20, "heap grew from " + (before >> 20) + " MiB to " + (after >> 20) + " MiB");
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        HttpApiTest.awaitIdle(engine);
    }

    /**
     * Slow-loris: 64 connections that send a request head one byte at a time and never finish it hold a socket each
     * and nothing else (the connector reads without a thread per connection); a request beside them is served as
     * usual, and none of them reaches the engine.
     */
    @Test
    void slowLorisConnectionsDoNotStopOthers() throws Exception {
        List<Socket> slow = new ArrayList<>();
        ExecutorService drip = Executors.newSingleThreadExecutor();
        try {
            for (int i = 0; i < 64; i++) slow.add(new Socket("127.0.0.1", server.port()));
            byte[] head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII);
            Future<?> dripping = drip.submit(() -> {
                for (int at = 0; at < head.length + 40 && !Thread.currentThread().isInterrupted(); at++) {
                    for (Socket s : slow) {
                        try {
                            s.getOutputStream().write(at < head.length ? head[at] : 'a');
                            s.getOutputStream().flush();
                        } catch (IOException e) {
                            // the server may close a connection that idles; that is a fine answer too
                        }
                    }
                    try {
                        Thread.sleep(25);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            long t0 = System.nanoTime();
            HttpResponse<String> ok = http.send(HttpRequest.newBuilder(URI.create(server.baseUri() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":[1,5],\"max_tokens\":3,\"temperature\":0}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ok.statusCode(), ok.body());
            assertTrue(System.nanoTime() - t0 < 30_000_000_000L, "a request beside the slow connections took > 30 s");
            Engine.Stats st = engine.stats();
            assertEquals(0, st.waiting(), "a slow-loris head reached the engine: " + st);
            dripping.cancel(true);
        } finally {
            drip.shutdownNow();
            for (Socket s : slow) s.close();
        }
        HttpApiTest.awaitIdle(engine);
    }

    /**
     * Sends a request on a fresh connection (from another thread: the server may answer before it has read all of it)
     * and reads the reply to the end (the request says Connection: close).
     */
    static String rawExchange(String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    out.write(request.getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                } catch (IOException e) {
                    // the server answered and closed before reading everything: the reply is what counts
                }
            });
            String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            writer.join(30_000);
            return reply;
        }
    }

    static long heapAfterGc() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return rt.totalMemory() - rt.freeMemory();
    }

    /** n zero bytes, produced as read (the client never holds the 100 MB either). */
    static final class ZeroStream extends InputStream {
        private long left;

        ZeroStream(long n) {
            left = n;
        }

        @Override
        public int read() {
            return left-- > 0 ? 0 : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left <= 0) return -1;
            int n = (int) Math.min(len, left);
            java.util.Arrays.fill(b, off, off + n, (byte) 0);
            left -= n;
            return n;
        }
    }

    /** One client: sends all or part of a (streaming or not) request, reads a random amount, and closes. */
    static void vanishingClient(SplittableRandom r) throws IOException {
        boolean stream = r.nextBoolean();
        String body = "{\"prompt\":\"once upon a time\",\"max_tokens\":" + (5 + r.nextInt(40)) + ",\"temperature\":0.7,\"stream\":" + stream + "}";
        // Connection: close, so that a client that wants more bytes than the reply has reads its end, not a keep-alive wait
        byte[] bytes = ("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(60_000); // a request may wait behind the others for a sequence
            OutputStream out = s.getOutputStream();
            int when = r.nextInt(10);
            if (when == 0) { // mid-request: part of the head or body, then gone
                out.write(bytes, 0, 1 + r.nextInt(bytes.length - 1));
                out.flush();
                return;
            }
            out.write(bytes);
            out.flush();
            InputStream in = s.getInputStream();
            int want = r.nextInt(4000);
            byte[] buf = new byte[512];
            for (int got = 0; got < want; ) {
                int n = in.read(buf, 0, Math.min(buf.length, want - got));
                if (n < 0) break;
                got += n;
            }
        } catch (java.net.SocketTimeoutException e) {
            throw new AssertionError("the server stopped answering", e);
        }
    }
}
