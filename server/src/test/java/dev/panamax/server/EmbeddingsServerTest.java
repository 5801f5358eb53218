package dev.panamax.server;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.BadRequestException;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.model.TinyBert;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /v1/embeddings} through the official OpenAI Java SDK and {@code /v1/rerank} in llama-server's shape, on tiny
 * BERT encoders written here (mean pooling; a reranker): the answers equal {@link Model#embed} / {@link Model#rerank},
 * and the errors say what is wrong.
 */
class EmbeddingsServerTest {
    @TempDir
    static Path dir;
    static Model embedder, reranker;
    static Engine embedEngine, rerankEngine;
    static Server embedServer, rerankServer;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        embedder = Model.load(TinyBert.write(dir, 1, 3), Model.Options.defaults().withThreads(1));
        reranker = Model.load(TinyBert.write(dir, 4, 3), Model.Options.defaults().withThreads(1));
        embedEngine = embedder.newEngine();
        rerankEngine = reranker.newEngine();
        embedServer = Server.start(embedEngine, ServerConfig.defaults("tiny-bert").withPort(0));
        rerankServer = Server.start(rerankEngine, ServerConfig.defaults("tiny-reranker").withPort(0));
        client = OpenAIOkHttpClient.builder().baseUrl(embedServer.baseUri() + "/v1").apiKey("unused").maxRetries(0).build();
    }

    /** A client of this class's own (HttpApiTest closes its shared one when it finishes). */
    static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newHttpClient();

    static HttpResponse<String> post(Server s, String path, String body) throws Exception {
        return HTTP.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(s.baseUri() + path))
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @AfterAll
    static void stop() {
        HTTP.close();
        if (client != null) client.close();
        for (Server s : new Server[] {embedServer, rerankServer}) if (s != null) s.close();
        for (Model m : new Model[] {embedder, reranker}) if (m != null) m.close();
    }

    @Test
    void sdkEmbeddings() {
        List<String> texts = List.of("hello world", "the cat sat on the mat", "what is the capital of france?");
        List<float[]> expected = embedder.embed(texts);
        for (EmbeddingCreateParams.EncodingFormat format : new EmbeddingCreateParams.EncodingFormat[] {
                EmbeddingCreateParams.EncodingFormat.FLOAT, EmbeddingCreateParams.EncodingFormat.BASE64}) {
            CreateEmbeddingResponse r = client.embeddings().create(EmbeddingCreateParams.builder().model("tiny-bert")
                    .inputOfArrayOfStrings(texts).encodingFormat(format).build());
            assertEquals(3, r.data().size());
            long tokens = 0;
            for (int i = 0; i < 3; i++) {
                assertEquals(i, r.data().get(i).index());
                List<Float> v = r.data().get(i).embedding();
                assertEquals(TinyBert.DIM, v.size());
                for (int d = 0; d < v.size(); d++) assertEquals(expected.get(i)[d], v.get(d), 1e-6f, format + " text " + i);
                tokens += embedder.embedder().tokenize(texts.get(i)).length;
            }
            assertEquals(tokens, r.usage().promptTokens());
            assertEquals(tokens, r.usage().totalTokens());
            assertEquals("tiny-bert", r.model());
        }
        // one string, and token ids
        CreateEmbeddingResponse one = client.embeddings().create(EmbeddingCreateParams.builder().model("tiny-bert").input("hello world").build());
        assertEquals(expected.get(0)[5], one.data().get(0).embedding().get(5), 1e-6f);
        List<Long> ids = java.util.Arrays.stream(embedder.embedder().tokenize("hello world")).mapToObj(i -> (long) i).toList();
        CreateEmbeddingResponse byIds = client.embeddings().create(EmbeddingCreateParams.builder().model("tiny-bert").inputOfArrayOfTokens(ids).build());
        assertEquals(expected.get(0)[5], byIds.data().get(0).embedding().get(5), 1e-6f);
        // the model's own width is accepted, any other refused with the reason
        client.embeddings().create(EmbeddingCreateParams.builder().model("tiny-bert").input("hello").dimensions(TinyBert.DIM).build());
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.embeddings().create(
                EmbeddingCreateParams.builder().model("tiny-bert").input("hello").dimensions(16).build()));
        assertTrue(e.getMessage().contains("not trained to be truncated"), e.getMessage());
    }

    @Test
    void rawEmbeddingsRequests() throws Exception {
        HttpResponse<String> r = post(embedServer, "/v1/embeddings",
                "{\"input\":[[1,4,5,2],\"dog\"],\"encoding_format\":\"base64\"}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = ApiHandler.JSON.readTree(r.body());
        assertEquals("list", j.get("object").asText());
        byte[] b = Base64.getDecoder().decode(j.at("/data/1/embedding").asText());
        float[] v = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        assertArrayEquals(embedder.embed(List.of("dog")).get(0), v, 1e-6f);
        assertEquals(4 + 3, j.at("/usage/prompt_tokens").asInt());
        for (String bad : new String[] {"{\"input\":[]}", "{\"input\":[[1,99999]]}", "{\"input\":[[]]}", "{\"input\":5}",
                "{\"input\":\"x\",\"encoding_format\":\"int8\"}", "{}", "{\"input\":\"" + "dog ".repeat(TinyBert.CTX) + "\"}"}) {
            HttpResponse<String> e = post(embedServer, "/v1/embeddings", bad);
            assertEquals(400, e.statusCode(), bad + " -> " + e.body());
            assertTrue(e.body().contains("\"error\""), e.body());
        }
        // an encoder does not complete, a plain embedder does not rerank, a reranker does not embed
        assertEquals(400, post(embedServer, "/v1/completions", "{\"prompt\":\"hi\"}").statusCode());
        assertEquals(400, post(embedServer, "/v1/rerank", "{\"query\":\"q\",\"documents\":[\"d\"]}").statusCode());
        assertEquals(400, post(rerankServer, "/v1/embeddings", "{\"input\":\"q\"}").statusCode());
    }

    @Test
    void rerank() throws Exception {
        List<String> docs = List.of("paris is the capital of france", "the cat sat on the mat", "dog", "hello world");
        float[] scores = reranker.rerank("what is the capital of france?", docs);
        HttpResponse<String> r = post(rerankServer, "/v1/rerank",
                "{\"model\":\"tiny-reranker\",\"query\":\"what is the capital of france?\",\"top_n\":3,\"documents\":"
                        + ApiHandler.JSON.writeValueAsString(docs) + "}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode results = ApiHandler.JSON.readTree(r.body()).get("results");
        assertEquals(3, results.size(), "top_n");
        double prev = Double.POSITIVE_INFINITY;
        for (JsonNode x : results) {
            int i = x.get("index").asInt();
            double s = x.get("relevance_score").asDouble();
            assertEquals(scores[i], s, 1e-6);
            assertTrue(s <= prev, "best first");
            prev = s;
        }
        for (int i = 0; i < docs.size(); i++) { // the one left out is the lowest
            final int idx = i;
            boolean listed = false;
            for (JsonNode x : results) listed |= x.get("index").asInt() == idx;
            if (!listed) for (JsonNode x : results) assertTrue(scores[idx] <= x.get("relevance_score").asDouble());
        }
        assertEquals(400, post(rerankServer, "/v1/rerank", "{\"query\":\"q\"}").statusCode());
        assertEquals(400, post(rerankServer, "/v1/rerank", "{\"query\":\"q\",\"documents\":[1]}").statusCode());
    }
}
