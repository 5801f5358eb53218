package dev.panamax.langchain4j;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Not part of the suite (run it by name; scripts/bench-providers.sh): aggregate decode of N concurrent callers through
 * the LangChain4j streaming provider against the same engine driven directly (as {@code panamax bench --parallel N}),
 * alternated in one JVM, best of the repetitions; and the delay between the engine producing a request's first piece
 * of text and the provider's handler receiving it. Properties: panamax.bench.model (required), .parallel (8),
 * .prompt (64 tokens), .gen (128), .reps (3).
 */
class ProviderBench {
    @Test
    void providerVersusEngine() throws Exception {
        String file = System.getProperty("panamax.bench.model");
        assertNotNull(file, "set -Dpanamax.bench.model=FILE.gguf");
        int parallel = Integer.getInteger("panamax.bench.parallel", 8);
        int prompt = Integer.getInteger("panamax.bench.prompt", 64);
        int gen = Integer.getInteger("panamax.bench.gen", 128);
        int reps = Integer.getInteger("panamax.bench.reps", 3);
        try (Model model = Model.load(Path.of(file));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(parallel).withContextLength(prompt * 2 + gen + 64))) {
            PanamaxStreamingChatModel streaming = new PanamaxStreamingChatModel(e);
            SplittableRandom r = new SplittableRandom(1);
            List<ChatRequest> warm = requests(r, parallel, prompt, Math.min(gen, 8));
            direct(e, prompts(e, warm), Math.min(gen, 8)); // warm-up
            viaProvider(streaming, warm);
            double bestDirect = 0, bestProvider = 0;
            int promptTokens = 0;
            for (int i = 0; i < reps; i++) {
                // the engine directly on the very tokens the provider submits (chat template and all), so both run the
                // same prompt lengths and only the provider's own work differs
                List<ChatRequest> reqs = requests(r, parallel, prompt, gen);
                List<int[]> toks = prompts(e, reqs);
                promptTokens = toks.get(0).length;
                bestDirect = Math.max(bestDirect, direct(e, toks, gen));
                bestProvider = Math.max(bestProvider, viaProvider(streaming, reqs));
            }
            System.out.printf("prompt tokens per request (both ways): %d; pieces streamed in the last run: %d for %d tokens%n",
                    promptTokens, lastPieces, (long) parallel * gen);
            long[] d = streaming.recentFirstTokenDelayNanos(); // oldest first: the warm-up's requests, then the runs'
            long warmMax = 0, runsMax = 0;
            for (int i = 0; i < d.length; i++) {
                if (i < parallel) warmMax = Math.max(warmMax, d[i]);
                else runsMax = Math.max(runsMax, d[i]);
            }
            Arrays.sort(d);
            System.out.printf("model %s, %s, %d threads; %d callers x (prompt ~%d, decode %d), best of %d%n", Path.of(file).getFileName(),
                    e.kernelsName(), e.threads(), parallel, prompt, gen, reps);
            System.out.printf("aggregate decode  engine directly %.1f tok/s, through LangChain4j %.1f tok/s: %.1f%%%n",
                    bestDirect, bestProvider, 100 * bestProvider / bestDirect);
            System.out.printf("first piece engine->handler over %d requests: median %.3f ms, p90 %.3f ms, max %.3f ms%n", d.length,
                    d[d.length / 2] / 1e6, d[(int) (d.length * 0.9)] / 1e6, d[d.length - 1] / 1e6);
            System.out.printf(Locale.ROOT, "first piece engine->handler: max of the warm-up run's %d requests %.3f ms, of the measured runs' %d %.3f ms%n",
                    Math.min(parallel, d.length), warmMax / 1e6, Math.max(0, d.length - parallel), runsMax / 1e6);
        }
    }

    /** Aggregate decode tok/s once every request has its first token, as ParallelBench measures it. */
    static double aggregate(List<long[]> stamps, int[] counts) {
        long allFirst = 0, end = 0;
        for (int i = 0; i < counts.length; i++) {
            allFirst = Math.max(allFirst, stamps.get(i)[0]);
            end = Math.max(end, stamps.get(i)[counts[i] - 1]);
        }
        long after = 0;
        for (int i = 0; i < counts.length; i++) for (int j = 0; j < counts[i]; j++) if (stamps.get(i)[j] > allFirst) after++;
        return after / ((end - allFirst) / 1e9);
    }

    /** n chat requests of about {@code prompt} tokens of random words, greedy, {@code gen} tokens ignoring EOS. */
    static List<ChatRequest> requests(SplittableRandom r, int n, int prompt, int gen) {
        var params = PanamaxChatRequestParameters.builder().temperature(0.0).maxOutputTokens(gen).ignoreEos(true).build();
        List<ChatRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder words = new StringBuilder();
            for (int w = 0; w < prompt / 2; w++) words.append("word").append(r.nextInt(1000)).append(' ');
            out.add(ChatRequest.builder().messages(UserMessage.from(words.toString())).parameters(params).build());
        }
        return out;
    }

    /** The prompt tokens the provider submits for each request. */
    static List<int[]> prompts(Engine e, List<ChatRequest> reqs) {
        List<int[]> out = new ArrayList<>();
        for (ChatRequest q : reqs) out.add(Conversation.of(e, q, null).request.promptTokens());
        return out;
    }

    static double direct(Engine e, List<int[]> prompts, int gen) {
        int n = prompts.size();
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        List<RequestHandle> hs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[gen + 8];
            stamps.add(s);
            hs.add(e.submit(GenerationRequest.of(prompts.get(i), gen, SamplingParams.greedy()).withIgnoreEos(true), (tok, text) -> {
                if (tok >= 0 && counts[id] < s.length) s[counts[id]++] = System.nanoTime();
            }));
        }
        for (RequestHandle h : hs) h.join();
        return aggregate(stamps, counts);
    }

    /** Pieces the handlers got in the last provider run (one per token unless the tokenizer merged some). */
    static long lastPieces;

    static double viaProvider(PanamaxStreamingChatModel m, List<ChatRequest> reqs) {
        int n = reqs.size();
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        List<CompletableFuture<ChatResponse>> done = new ArrayList<>();
        List<Thread> callers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[reqs.get(i).maxOutputTokens() + 8];
            stamps.add(s);
            CompletableFuture<ChatResponse> f = new CompletableFuture<>();
            done.add(f);
            ChatRequest req = reqs.get(i);
            callers.add(Thread.ofPlatform().start(() -> m.chat(req, new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String text) {
                    if (counts[id] < s.length) s[counts[id]++] = System.nanoTime(); // one piece per token (ASCII text)
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    f.complete(response);
                }

                @Override
                public void onError(Throwable error) {
                    f.completeExceptionally(error);
                }
            })));
        }
        for (CompletableFuture<ChatResponse> f : done) f.join();
        lastPieces = 0;
        for (int c : counts) lastPieces += c;
        return aggregate(stamps, counts);
    }
}
