package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's flight recorder events, read back from a recording; typed output on a tiny random model. */
class EngineObservabilityTest {
    @TempDir
    static Path dir;

    @Test
    void stepAndRequestEventsAreRecorded() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 21);
        Path jfr = dir.resolve("engine.jfr");
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(1));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withContextLength(64));
             Recording r = new Recording()) {
            r.enable(EngineEvents.STEP).withThreshold(Duration.ZERO);
            r.enable(EngineEvents.REQUEST).withThreshold(Duration.ZERO);
            r.start();
            var a = e.submit(GenerationRequest.of(new int[] {1, 5, 6, 7, 8, 9}, 5, SamplingParams.greedy()).withIgnoreEos(true));
            var b = e.submit(GenerationRequest.of(new int[] {1, 9, 8}, 3, SamplingParams.greedy()).withIgnoreEos(true));
            a.join();
            b.join();
            r.stop();
            r.dump(jfr);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(jfr);
        List<RecordedEvent> steps = events.stream().filter(ev -> ev.getEventType().getName().equals(EngineEvents.STEP)).toList();
        List<RecordedEvent> requests = events.stream().filter(ev -> ev.getEventType().getName().equals(EngineEvents.REQUEST)).toList();
        int prompt = steps.stream().mapToInt(s -> s.getInt("promptTokens")).sum();
        int decode = steps.stream().mapToInt(s -> s.getInt("decodeTokens")).sum();
        // 9 prompt tokens; the first generated token of each comes from the prompt's logits, the others are decode inputs
        assertEquals(9, prompt, "prompt tokens over the steps");
        assertEquals((5 - 1) + (3 - 1), decode, "decode tokens over the steps");
        assertTrue(steps.stream().allMatch(s -> s.getInt("sequences") >= 1 && s.getDuration().toNanos() > 0));
        assertEquals(2, requests.size());
        RecordedEvent ra = requests.stream().filter(ev -> ev.getInt("promptTokens") == 6).findFirst().orElseThrow();
        assertEquals(5, ra.getInt("generatedTokens"));
        assertEquals("length", ra.getString("stopReason"));
        assertTrue(ra.getDuration("timeToFirstToken").toNanos() > 0);
        assertTrue(ra.getDuration("totalTime").compareTo(ra.getDuration("timeToFirstToken")) >= 0);
    }

    /**
     * A step target below any step's time cuts a prompt that arrives while another request decodes to one KV block per
     * step; a target far above it lets the prompt take the whole token budget in one step. Read from the step events:
     * the prompt tokens of every step that also decoded.
     */
    @Test
    void stepTargetCutsPromptChunksBesideDecodingStreams() throws Exception {
        Path m = TinyModels.writeNeverEnding(dir, 1024);
        int block = 16, longPrompt = 200;
        List<Integer> tight = promptTokensBesideDecoding(m, Duration.ofNanos(1), block, longPrompt);
        List<Integer> loose = promptTokensBesideDecoding(m, Duration.ofHours(1), block, longPrompt);
        assertEquals(longPrompt, tight.stream().mapToInt(Integer::intValue).sum(), "the long prompt, all of it beside the decoding stream");
        assertTrue(tight.stream().allMatch(n -> n <= block), "one block per step under a tight target: " + tight);
        assertTrue(tight.size() >= longPrompt / block, "steps: " + tight);
        assertEquals(List.of(longPrompt), loose, "one step for the whole prompt under a loose target");
        assertThrows(IllegalArgumentException.class, () -> Engine.Config.defaults().withStepTarget(Duration.ofMillis(-1)));
    }

    /** Prompt tokens of each step that also had decode rows: a long prompt submitted while another request decodes. */
    private static List<Integer> promptTokensBesideDecoding(Path m, Duration target, int block, int longPrompt) throws Exception {
        Path jfr = dir.resolve("target-" + target.toNanos() + ".jfr");
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(1));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withContextLength(1024).withBlockSize(block)
                     .withStepTarget(target));
             Recording r = new Recording()) {
            r.enable(EngineEvents.STEP).withThreshold(Duration.ZERO);
            // recording from before the first request: starting JFR takes long enough on a loaded machine for a short
            // stream to end before the long prompt arrives; the stream is long enough to outlast the prompt regardless
            r.start();
            var decoding = new java.util.concurrent.CountDownLatch(1);
            var a = e.submit(GenerationRequest.of(new int[] {1, 5, 6, 7}, 1024 - 4, SamplingParams.greedy()).withIgnoreEos(true),
                    (tok, text) -> decoding.countDown());
            decoding.await();
            int[] prompt = new java.util.SplittableRandom(3).ints(longPrompt, 0, model.vocabSize()).toArray();
            e.submit(GenerationRequest.of(prompt, 1, SamplingParams.greedy()).withIgnoreEos(true)).join();
            r.stop();
            a.cancel();
            r.dump(jfr);
        }
        return RecordingFile.readAllEvents(jfr).stream().filter(ev -> ev.getEventType().getName().equals(EngineEvents.STEP))
                .filter(ev -> ev.getInt("decodeTokens") > 0 && ev.getInt("promptTokens") > 0)
                .map(ev -> ev.getInt("promptTokens")).toList();
    }

    enum Mood { CALM, ANGRY }
    record Reply(@Size(max = 6) String word, Mood mood, @Size(max = 2) List<Integer> numbers, Optional<Boolean> flag) {}
    @java.lang.annotation.Retention(java.lang.annotation.RetentionPolicy.RUNTIME)
    @interface Size { int max(); }

    @Test
    void typedOutputParsesWhatTheGrammarAllowed() throws Exception {
        Path m = TinyModels.writeNeverEnding(dir, 1024); // EOS only when the grammar leaves nothing else
        try (Model model = Model.load(m, Model.Options.defaults().withThreads(1));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withContextLength(1024))) {
            for (long seed = 1; seed <= 3; seed++) {
                Reply r = e.generate(List.of(dev.panamax.tokenizer.ChatMessage.user("Describe your mood.")), Reply.class, 0,
                        SamplingParams.defaults(seed).withTemperature(1.5f));
                assertNotNull(r.word());
                // the grammar counts characters as llama.cpp's does: a 4-byte sequence beyond U+10FFFF (random byte
                // tokens) is one character to it and four U+FFFD to Java's decoder, so those are not counted here
                assertTrue(r.word().codePoints().filter(c -> c != 0xFFFD).count() <= 6, r.word());
                assertNotNull(r.mood());
                assertTrue(r.numbers().size() <= 2);
            }
            assertNotNull(e.generate("Describe your mood.", Reply.class));
        }
    }
}
