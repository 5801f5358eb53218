package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.Model;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code GET /ready} (a public readiness probe) and {@code serve --api-key-file}. */
class ReadyAndApiKeyFileTest {
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

    static HttpResponse<String> get(Server s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUri() + path)).GET();
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(Server s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUri() + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static void assertError(HttpResponse<String> r, int status, String code) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(code, JSON.readTree(r.body()).path("error").path("code").asText(), r.body());
    }

    @Test
    void readyWhileTheEngineRunsThenNot() throws Exception {
        Engine engine = TestServers.engine(model, 8);
        try (Server s = Server.start(engine, TestServers.config().withApiKey("k"))) {
            HttpResponse<String> r = get(s, "/ready"); // public, like /health: no key
            assertEquals(200, r.statusCode(), r.body());
            JsonNode body = JSON.readTree(r.body());
            assertEquals("ready", body.get("status").asText());
            assertEquals(TestServers.MODEL_ID, body.get("model").asText());
            assertEquals(405, post(s, "/ready", "{}").statusCode());
            assertTrue(get(s, "/metrics", "Authorization", "Bearer k").body().contains("endpoint=\"/ready\""));

            engine.close(); // the engine stops (e.g. the model was closed): not ready, though HTTP still answers
            assertError(get(s, "/ready"), 503, "engine_closed");
            assertEquals(200, get(s, "/health").statusCode(), "health says the process is up; ready says it can serve");
        } finally {
            engine.close();
        }
    }

    static ServeMain parse(String... args) {
        ServeMain m = new ServeMain();
        new CommandLine(m).parseArgs(args);
        return m;
    }

    @Test
    void apiKeyFile() throws Exception {
        Path f = dir.resolve("key.txt");
        Files.writeString(f, "  from-a-file \nsecond line ignored\n");
        ServeMain cmd = parse("-m", "x.gguf", "--api-key-file", f.toString());
        assertEquals("from-a-file", cmd.apiKey());
        assertEquals("inline", parse("-m", "x.gguf", "--api-key", "inline").apiKey());
        assertNull(parse("-m", "x.gguf").apiKey());

        CommandLine.ParameterException both = assertThrows(CommandLine.ParameterException.class,
                () -> parse("-m", "x.gguf", "--api-key", "a", "--api-key-file", f.toString()).apiKey());
        assertTrue(both.getMessage().contains("not both"), both.getMessage());
        Path blank = Files.writeString(dir.resolve("blank.txt"), "\n");
        CommandLine.ParameterException empty = assertThrows(CommandLine.ParameterException.class,
                () -> parse("-m", "x.gguf", "--api-key-file", blank.toString()).apiKey());
        assertTrue(empty.getMessage().contains("blank"), empty.getMessage());
        assertThrows(NoSuchFileException.class, () -> parse("-m", "x.gguf", "--api-key-file", dir.resolve("none").toString()).apiKey());

        // the key read from the file guards the server: wrong or missing key 401, the file's key 200
        try (Engine engine = TestServers.engine(model, 8);
             Server s = Server.start(engine, TestServers.config().withApiKey(cmd.apiKey()))) {
            assertEquals(401, get(s, "/v1/models").statusCode());
            assertEquals(401, get(s, "/v1/models", "Authorization", "Bearer from-a-file2").statusCode());
            assertEquals(401, get(s, "/v1/models", "Authorization", "Bearer wrong").statusCode());
            assertEquals(200, get(s, "/v1/models", "Authorization", "Bearer from-a-file").statusCode());
        }
    }
}
