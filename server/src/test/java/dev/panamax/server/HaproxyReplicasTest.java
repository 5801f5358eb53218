package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.InternalServerException;
import com.openai.errors.OpenAIException;
import com.openai.errors.OpenAIIoException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two replicas ({@code serve} in child JVMs) behind a real HAProxy running docs/haproxy.cfg ({@code leastconn}, health
 * checks on {@code /ready} every 250 ms), driven by the official OpenAI Java client: streaming and non-streaming traffic
 * reaches both; a replica killed mid-run cuts its streams and its unanswered requests fail at once, a retry succeeds
 * on the other one, new requests go to the other one, nothing hangs; a replica stopped with SIGTERM
 * finishes its requests and gets no new ones. Skipped without haproxy, failed instead with PANAMAX_REQUIRE_HAPROXY=1
 * (CI).
 */
class HaproxyReplicasTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration CHECK = Duration.ofMillis(250); // docs/haproxy.cfg: a replica is out after 2 failed checks
    static final String REPLICA = "X-Panamax-Replica";    // set by docs/haproxy.cfg: which replica answered
    static final int LONG = 1900;                        // tokens of a request that is still running when its replica goes
    // "at once": far below the timeouts in play (the client's 30 s, HAProxy's 10 min), with room for a loaded machine
    static final long FAST_MS = 10_000;

    @TempDir
    static Path modelDir;
    static Path model;
    static final Path dir = Path.of("target/haproxy-replicas"); // the replicas' and HAProxy's logs stay for a look

    Replica a, b;
    Haproxy lb;
    OpenAIClient client;
    final ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();

    @BeforeAll
    static void prerequisites() throws Exception {
        Haproxy.requireBinary();
        model = TestServers.writeModel(modelDir);
        java.nio.file.Files.createDirectories(dir);
    }

    /** Both replicas (started together), then HAProxy once it sees both UP. */
    void start(String test) throws Exception {
        String[] args = {"--alias", TestServers.MODEL_ID, "--parallel", "4", "-c", Integer.toString(TestServers.CTX), "--shutdown-timeout", "30"};
        Path logA = dir.resolve(test + "-a.log"), logB = dir.resolve(test + "-b.log");
        Process pa = Replica.launch(model, logA, args), pb = Replica.launch(model, logB, args);
        try {
            a = Replica.awaitReady("a", pa, logA, Duration.ofSeconds(60));
            b = Replica.awaitReady("b", pb, logB, Duration.ofSeconds(60));
        } finally {
            if (a == null) pa.destroyForcibly();
            if (b == null) pb.destroyForcibly();
        }
        lb = Haproxy.start(dir.resolve(test + "-haproxy.log"), "leastconn", CHECK, a, b);
        // no retries by the client: what HAProxy does shows; each call has a deadline, so nothing can hang the test
        client = OpenAIOkHttpClient.builder().baseUrl("http://" + lb.address + "/v1").apiKey("unused").maxRetries(0)
                .timeout(Duration.ofSeconds(30)).build();
    }

    @AfterEach
    void stop() throws Exception {
        pool.shutdownNow();
        if (client != null) client.close();
        if (lb != null) lb.close();
        if (a != null) a.close();
        if (b != null) b.close();
    }

    static ChatCompletionCreateParams chat(String user, long maxTokens, boolean stream) {
        ChatCompletionCreateParams.Builder p = ChatCompletionCreateParams.builder().model(TestServers.MODEL_ID).addUserMessage(user)
                .maxCompletionTokens(maxTokens).temperature(0.0);
        if (stream) p.streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build());
        return p.build();
    }

    /** A non-streaming call: the replica that answered, and the reply. */
    record Whole(String replica, ChatCompletion completion) {}

    Whole whole(String user, long maxTokens) {
        return whole(client, user, maxTokens);
    }

    static Whole whole(OpenAIClient client, String user, long maxTokens) {
        HttpResponseFor<ChatCompletion> r = client.chat().completions().withRawResponse().create(chat(user, maxTokens, false));
        return new Whole(r.headers().values(REPLICA).getFirst(), r.parse());
    }

    /** A stream read to its end on a virtual thread: which replica, when the first chunk came, how it ended. */
    static final class Stream {
        final CountDownLatch started = new CountDownLatch(1);
        volatile String replica;
        final StringBuilder text = new StringBuilder();
        volatile String finish;    // the last choice's finish_reason, null when none came
        volatile long completionTokens = -1;
        volatile Throwable error;  // the stream failed
        volatile long endedNanos;
        final CompletableFuture<Void> done = new CompletableFuture<>();
    }

    Stream stream(String user, long maxTokens) {
        Stream s = new Stream();
        pool.submit(() -> {
            try (HttpResponseFor<StreamResponse<ChatCompletionChunk>> r =
                         client.chat().completions().withRawResponse().createStreaming(chat(user, maxTokens, true));
                 StreamResponse<ChatCompletionChunk> chunks = r.parse()) {
                s.replica = r.headers().values(REPLICA).getFirst();
                chunks.stream().forEach(c -> {
                    s.started.countDown();
                    for (ChatCompletionChunk.Choice ch : c.choices()) {
                        ch.delta().content().ifPresent(s.text::append);
                        ch.finishReason().ifPresent(f -> s.finish = f.asString());
                    }
                    c.usage().ifPresent(u -> s.completionTokens = u.completionTokens());
                });
            } catch (Throwable t) {
                s.error = t;
            } finally {
                s.endedNanos = System.nanoTime();
                s.started.countDown();
                s.done.complete(null);
            }
        });
        return s;
    }

    static void await(Stream s) throws Exception {
        s.done.get(60, TimeUnit.SECONDS); // a hang fails here
    }

    void awaitStatus(String server, String status, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        String st;
        while (!status.equals(st = lb.status(server))) {
            if (System.nanoTime() > deadline) fail("HAProxy reports " + server + " " + st + ", not " + status + " after " + within + "\n" + lb.log());
            Thread.sleep(20);
        }
    }

    /** Waits until HAProxy forwards {@code n} requests in all to the replicas. */
    void awaitForwarded(int n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (lb.current("a") + lb.current("b") < n) {
            if (System.nanoTime() > deadline) fail("HAProxy never forwarded " + n + " requests: " + lb.servers());
            Thread.sleep(5);
        }
    }

    @Test
    void trafficReachesBothThenAKilledReplicaFailsFastAndTheOtherTakesOver() throws Exception {
        start("kill");
        // 1. streaming and non-streaming through HAProxy: both replicas serve, the same greedy reply from each
        List<Future<Whole>> wholes = new ArrayList<>();
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            wholes.add(pool.submit(() -> whole("hello there", 8)));
            streams.add(stream("hello there", 8));
        }
        List<String> replicas = new ArrayList<>();
        String reply = null;
        for (Future<Whole> f : wholes) {
            Whole w = f.get(60, TimeUnit.SECONDS);
            replicas.add(w.replica());
            ChatCompletion.Choice c = w.completion().choices().getFirst();
            assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.finishReason());
            String text = c.message().content().orElseThrow();
            if (reply == null) reply = text;
            assertEquals(reply, text, "greedy decoding gives the same reply on either replica");
        }
        for (Stream s : streams) {
            await(s);
            assertEquals(null, s.error, "stream failed");
            assertEquals("length", s.finish);
            assertEquals(8, s.completionTokens);
            assertEquals(reply, s.text.toString(), "a stream says what the whole reply says");
            replicas.add(s.replica);
        }
        assertTrue(replicas.contains("a") && replicas.contains("b"), "leastconn spreads 8 concurrent requests: " + replicas);

        // 2. long requests on both: 2 non-streaming (leastconn: one each), then 4 streams (two each)
        List<Future<Object>> longWholes = new ArrayList<>();
        long[] failedAt = new long[2];
        for (int i = 0; i < 2; i++) {
            int k = i;
            longWholes.add(pool.submit(() -> {
                try {
                    return whole("long " + k, LONG);
                } catch (OpenAIException e) {
                    failedAt[k] = System.nanoTime();
                    return e;
                }
            }));
        }
        awaitForwarded(2);
        List<Stream> longStreams = new ArrayList<>();
        for (int i = 0; i < 4; i++) { // one at a time: leastconn picks by the connections HAProxy has already forwarded
            longStreams.add(stream("long stream " + i, LONG));
            awaitForwarded(3 + i);
        }
        for (Stream s : longStreams) assertTrue(s.started.await(30, TimeUnit.SECONDS), "a stream started");
        for (Stream s : longStreams) assertEquals(null, s.error, "stream failed before the kill");
        assertEquals(2, longStreams.stream().filter(s -> "a".equals(s.replica)).count(), "leastconn: two streams on each replica");

        // 3. kill a (SIGKILL): its streams are cut and its unanswered request gets 502 at once; b's requests complete
        Future<Long> down = pool.submit(() -> { // when HAProxy takes a out
            while (!"DOWN".equals(lb.status("a"))) Thread.sleep(5);
            return System.nanoTime();
        });
        long signalled = System.nanoTime();
        a.kill(); // returns once the process is gone: times below count from then
        long killed = System.nanoTime();
        System.out.printf("HaproxyReplicasTest: the killed replica's process was gone %.0f ms after SIGKILL%n", (killed - signalled) / 1e6);
        Object[] outcomes = new Object[2];
        for (int i = 0; i < 2; i++) outcomes[i] = longWholes.get(i).get(60, TimeUnit.SECONDS);
        int failedFast = 0;
        for (int i = 0; i < 2; i++) {
            Object o = outcomes[i];
            if (o instanceof OpenAIException e) {
                // HAProxy's 502; or, when the client's connection carried an earlier request, the connection closed
                // without a response (as a server closes an idle keep-alive connection), which clients may resend
                assertTrue(e instanceof InternalServerException ise && ise.statusCode() == 502 || e instanceof OpenAIIoException, e.toString());
                double ms = (failedAt[i] - killed) / 1e6;
                assertTrue(ms < FAST_MS, "the unanswered request fails at once, not after a timeout: " + ms + " ms");
                System.out.printf("HaproxyReplicasTest: the killed replica's unanswered request failed after %.0f ms: %s%n", ms, e);
                failedFast++;
            } else {
                Whole w = (Whole) o;
                assertEquals("b", w.replica());
                assertEquals(LONG, w.completion().usage().orElseThrow().completionTokens());
            }
        }
        assertEquals(1, failedFast, "the request running on the killed replica fails: " + java.util.Arrays.toString(outcomes));
        for (Stream s : longStreams) {
            await(s);
            if ("a".equals(s.replica)) {
                assertTrue(s.error != null || s.finish == null, "a stream of the killed replica is cut (" + s.text.length() + " chars)");
                double ms = (s.endedNanos - killed) / 1e6;
                assertTrue(ms < FAST_MS, "the cut stream's client learns it at once, not after a timeout: " + ms + " ms");
                System.out.printf("HaproxyReplicasTest: a stream of the killed replica was cut after %.0f ms: %s%n", ms, s.error);
            } else {
                assertEquals(null, s.error, "b's stream");
                assertEquals("length", s.finish);
                assertEquals(LONG, s.completionTokens);
            }
        }
        // the client's retry succeeds; new requests go to b: the ones sent before the health check notices are
        // redispatched by HAProxy (connection refused), none fails
        Whole retry = whole("long 0", 16);
        assertEquals("b", retry.replica());
        for (int i = 0; i < 5; i++) assertEquals("b", whole("after the kill " + i, 4).replica());
        double downMs = (down.get(20, TimeUnit.SECONDS) - killed) / 1e6;
        System.out.printf("HaproxyReplicasTest: killed replica marked DOWN after %.0f ms (checks every %d ms, fall 2)%n", downMs, CHECK.toMillis());
        assertTrue(downMs < CHECK.multipliedBy(2).toMillis() + FAST_MS, "HAProxy takes the dead replica out after 2 checks: " + downMs + " ms");
        for (int i = 0; i < 4; i++) assertEquals("b", whole("after down " + i, 4).replica());
    }

    @Test
    void aReplicaStoppedWithSigtermFinishesItsRequestsAndGetsNoNewOnes() throws Exception {
        start("drain");
        // a second HAProxy on the same replicas that checks only once a minute: it never sees a drain, so what it
        // sends to a gets a's 503 (then, once a is gone, a refused connection), and it must resend that to b
        Haproxy blind = Haproxy.start(dir.resolve("drain-haproxy-blind.log"), "leastconn", Duration.ofMinutes(1), a, b);
        OpenAIClient blindClient = OpenAIOkHttpClient.builder().baseUrl("http://" + blind.address + "/v1").apiKey("unused")
                .maxRetries(0).timeout(Duration.ofSeconds(30)).build();
        try {
            drain(blind, blindClient);
        } finally {
            blindClient.close();
            blind.close();
        }
    }

    void drain(Haproxy blind, OpenAIClient blindClient) throws Exception {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) streams.add(stream("drain " + i, LONG));
        for (Stream s : streams) assertTrue(s.started.await(30, TimeUnit.SECONDS), "a stream started");
        assertEquals(2, streams.stream().filter(s -> "a".equals(s.replica)).count(), "leastconn: two streams on each replica");

        System.out.println("HaproxyReplicasTest: SIGTERM to a at " + java.time.LocalTime.now());
        a.terminate(); // SIGTERM: /ready 503 at once, running requests finish, new ones are refused
        try (HttpClient http = HttpClient.newHttpClient()) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            HttpResponse<String> ready;
            while ((ready = a.get(http, "/ready")).statusCode() == 200) {
                if (System.nanoTime() > deadline) fail("/ready still 200 10 s after SIGTERM");
                Thread.sleep(5);
            }
            System.out.println("HaproxyReplicasTest: a not ready at " + java.time.LocalTime.now() + ": " + ready.statusCode());
            // while a drains (its two streams run): not ready, but alive; a request sent to it directly is refused
            assertFalse(streams.stream().filter(s -> "a".equals(s.replica)).allMatch(s -> s.done.isDone()), "a's streams still run");
            assertEquals(503, ready.statusCode(), ready.body());
            assertEquals(200, a.get(http, "/health").statusCode(), "live while draining");
            HttpResponse<String> refused = http.send(HttpRequest.newBuilder(a.uri("/v1/chat/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(503, refused.statusCode(), refused.body());
            JsonNode err = JSON.readTree(refused.body()).get("error");
            assertEquals("shutting_down", err.get("code").asText());
            assertTrue(err.get("message").asText().contains("another replica"), refused.body());
        }
        // through both HAProxies meanwhile: every new request succeeds on b; the checking one takes a out, the blind
        // one resends a's 503s to b
        List<String> during = new ArrayList<>(), blindDuring = new ArrayList<>();
        while (a.process.isAlive() && during.size() < 200) {
            during.add(whole("during the drain " + during.size(), 2).replica());
            blindDuring.add(whole(blindClient, "during the drain, blind " + blindDuring.size(), 2).replica());
        }
        assertTrue(a.process.waitFor(30, TimeUnit.SECONDS), "a exits once drained");
        for (int i = 0; i < 4; i++) blindDuring.add(whole(blindClient, "after the drain, blind " + i, 2).replica());
        assertFalse(during.isEmpty());
        assertTrue(during.stream().allMatch("b"::equals), "no new request reaches the draining replica: " + during);
        assertTrue(blindDuring.stream().allMatch("b"::equals), "the blind HAProxy's requests all end on b: " + blindDuring);
        java.util.Map<String, String> seen = blind.servers().get("a");
        long resent = Long.parseLong(seen.get("wretr")) + Long.parseLong(seen.get("wredis"));
        System.out.printf("HaproxyReplicasTest: %d requests through the blind HAProxy, a still %s there, %s retries and %s redispatches away from a%n",
                blindDuring.size(), seen.get("status"), seen.get("wretr"), seen.get("wredis"));
        assertTrue(seen.get("status").startsWith("UP"), "the blind HAProxy never saw a go: " + seen.get("status"));
        assertTrue(resent > 0, "requests it sent to a were resent to b: " + seen);
        for (Stream s : streams) {
            await(s);
            assertEquals(null, s.error, s.replica + "'s stream");
            assertEquals("length", s.finish, s.replica + "'s stream");
            assertEquals(LONG, s.completionTokens, s.replica + "'s stream runs to its end");
        }
        assertNotNull(a.log());
        assertTrue(a.log().contains("server stopped"), a.log());
        awaitStatus("a", "DOWN", Duration.ofSeconds(5));
        assertEquals("b", whole("after", 2).replica());
    }
}
