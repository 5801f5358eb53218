package dev.panamax.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.model.TinyBert;
import dev.panamax.model.TinyModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpTester;
import org.eclipse.jetty.server.LocalConnector;

/**
 * Coverage-guided fuzz target for the server's request decoding and validation (Jazzer): arbitrary bytes are POSTed
 * as the body of {@code /v1/chat/completions}, {@code /v1/completions}, {@code /tokenize}, {@code /detokenize} (a
 * tiny chat model, context 64, at most 4 choices, 2 KiB bodies), {@code /v1/embeddings} (a tiny BERT) or
 * {@code /v1/rerank} (a tiny reranker), through Jetty's in-memory connector: the same HTTP parsing, {@link ApiHandler}
 * and engine as a socket, without one. The first byte picks the endpoint (and, with its high bit, a chunked body
 * instead of a Content-Length), the rest is the body. Allowed outcomes: 200 with a JSON answer, or 400/404/413/422 in
 * OpenAI's error shape. Anything else (a 500, which the handler gives for an exception it did not expect, a body
 * that is not JSON, no answer within 20 s) is a finding. Normal test runs replay the committed inputs in
 * {@code src/test/resources/dev/panamax/server/RequestFuzzTestInputs/}; {@code scripts/fuzz.sh request} fuzzes.
 */
class RequestFuzzTest {

    static final String[] PATHS = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize", "/v1/embeddings", "/v1/rerank"};

    /** A server without sockets: Jetty over an in-memory connector. */
    record Local(org.eclipse.jetty.server.Server jetty, LocalConnector connector) {
        static Local start(Engine engine, ServerConfig config) {
            org.eclipse.jetty.server.Server jetty = new org.eclipse.jetty.server.Server();
            LocalConnector c = new LocalConnector(jetty);
            jetty.addConnector(c);
            jetty.setHandler(new ApiHandler(engine, config, new ServerMetrics(engine, config.modelId())));
            jetty.setErrorHandler(new JsonErrorHandler());
            try {
                jetty.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return new Local(jetty, c);
        }
    }

    static final Local CHAT, EMBED, RERANK;

    static {
        try {
            Path dir = Files.createTempDirectory("request-fuzz");
            dir.toFile().deleteOnExit();
            Model chat = Model.load(TinyModels.writeNeverEnding(dir, 64), Model.Options.defaults().withThreads(1));
            CHAT = Local.start(chat.newEngine(Engine.Config.defaults().withMaxSequences(4).withContextLength(64)),
                    ServerConfig.defaults("tiny-chat").withMaxChoices(4).withMaxBodyBytes(2048));
            Model bert = Model.load(TinyBert.write(dir, 1, 3), Model.Options.defaults().withThreads(1));
            EMBED = Local.start(bert.newEngine(), ServerConfig.defaults("tiny-bert"));
            Model reranker = Model.load(TinyBert.write(dir, 4, 3), Model.Options.defaults().withThreads(1));
            RERANK = Local.start(reranker.newEngine(), ServerConfig.defaults("tiny-reranker"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // One request of each kind before the 20 s limit applies: the first pays for class loading, the JIT and, when
        // fuzzing, Jazzer's instrumentation (a campaign at load ~20 took 21 s for its first chat completion).
        warmUp(CHAT, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2,"
                + "\"response_format\":{\"type\":\"json_object\"},\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}");
        warmUp(CHAT, "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":2,\"stream\":true}");
        warmUp(EMBED, "/v1/embeddings", "{\"input\":\"hi\"}");
        warmUp(RERANK, "/v1/rerank", "{\"query\":\"a\",\"documents\":[\"b\"]}");
    }

    static void warmUp(Local server, String path, String body) {
        try {
            server.connector().getResponse("POST " + path + " HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
                    + "Connection: close\r\nContent-Length: " + body.length() + "\r\n\r\n" + body, 300, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("warm-up POST " + path, e);
        }
    }

    @FuzzTest(maxDuration = "10m")
    void post(byte[] data) throws Exception {
        if (data.length == 0) return;
        String path = PATHS[(data[0] & 0x7F) % PATHS.length];
        boolean chunked = (data[0] & 0x80) != 0;
        Local server = path.contains("embeddings") ? EMBED : path.contains("rerank") ? RERANK : CHAT;
        int n = data.length - 1;
        String head = "POST " + path + " HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + (chunked ? "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(n) + "\r\n" : "Content-Length: " + n + "\r\n\r\n");
        ByteBuffer req = ByteBuffer.allocate(head.length() + n + 16);
        req.put(head.getBytes(StandardCharsets.ISO_8859_1)).put(data, 1, n);
        if (chunked) req.put((n > 0 ? "\r\n0\r\n\r\n" : "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        req.flip();
        ByteBuffer raw = server.connector().getResponse(req, 20, TimeUnit.SECONDS);
        if (raw == null) throw new AssertionError("no complete response within 20 s to POST " + path);
        HttpTester.Response r = HttpTester.parseResponse(raw);
        if (r == null) throw new AssertionError("no parseable response to POST " + path);
        String body = r.getContent();
        String what = "POST " + path + " -> " + r.getStatus() + ": " + body.substring(0, Math.min(400, body.length()));
        int s = r.getStatus();
        if (s != 200 && s != 400 && s != 404 && s != 413 && s != 422) throw new AssertionError("status " + what);
        if (s == 200 && String.valueOf(r.get("Content-Type")).startsWith("text/event-stream")) {
            for (String line : body.split("\n")) {
                if (line.startsWith("data: ") && !line.equals("data: [DONE]")) json(line.substring(6), what);
            }
            return;
        }
        JsonNode j = json(body, what);
        if (s != 200 && !(j.path("error").path("message").isTextual() && j.path("error").path("type").isTextual())) {
            throw new AssertionError("error not in OpenAI's shape: " + what);
        }
    }

    static JsonNode json(String s, String what) {
        try {
            return ApiHandler.JSON.readTree(s);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + what, e);
        }
    }
}
