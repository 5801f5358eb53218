package dev.panamax.hostile;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ContextOverflowException;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.Backend;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ChatTemplateException;
import dev.panamax.tokenizer.Tokenizer;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the {@link HostileCorpus} through what a user does with a downloaded file: {@code Model.load}, the tokenizer
 * (encode of awkward text with and without special parsing, every token's piece, decode of every id), the chat template
 * ({@code Model.chatTemplate()}, a render and its tokens) and a short greedy generation, on the native backend and,
 * for every case that loads, on the Java backend too (rejection happens before any kernel exists, so a rejected case
 * is the same on both; the chat-template class runs once, templates do not depend on the backend). Each case must end, within {@link #CASE_LIMIT_S} seconds and {@link #ALLOC_LIMIT} bytes of
 * heap allocated by its thread, either normally or in a documented exception of the step that failed:
 * {@link GgufFormatException} from loading, {@link ChatTemplateException} from the template, an
 * {@link IllegalArgumentException} (exactly that class) from encoding text the vocabulary cannot represent. Anything
 * else (an index error, an arithmetic error, OutOfMemoryError, StackOverflowError, a hang) fails the test with the
 * case's name; a JVM crash fails the build. A per-class table of outcomes is printed.
 */
class HostileCorpusTest {

    static final int CASE_LIMIT_S = 30;
    /** Three template renders (the check at parse, the system-role probe, the test's) of ChatTemplate.MAX_RENDER_ALLOCATION each, and the rest. */
    static final long ALLOC_LIMIT = 1L << 30;
    /** Random mutations per base file in the regression run; {@code -Dpanamax.hostile.random=N} for more. */
    static final int RANDOM_PER_BASE = Integer.getInteger("panamax.hostile.random", 250);

    static final List<String> PROBES = List.of("", "Hello world", " leading and trailing ", "<s></s><unk><|endoftext|>",
            "\u0000\u0001\u007f", "é 中文 😀 \uD800 unpaired", "\t\n\r\n  \n", "x".repeat(3000), "<0x41><0xZZ>");

    @TempDir
    Path dir;

    enum Stage { LOAD, TOKENIZER, TEMPLATE, GENERATE, DONE }

    /** How one case ended. */
    record Outcome(Stage stage, Throwable error, long allocated, long millis) {
        boolean defect() {
            if (error == null) return false;
            return switch (stage) {
                case LOAD -> !(error instanceof GgufFormatException);
                case TOKENIZER -> error.getClass() != IllegalArgumentException.class;
                case TEMPLATE -> !(error instanceof ChatTemplateException || error instanceof GgufFormatException);
                default -> true;
            };
        }

        String label() {
            if (error == null) return "ran";
            return switch (stage) {
                case LOAD -> "rejected";
                case TOKENIZER -> "encode refused";
                case TEMPLATE -> "template refused";
                default -> "failed";
            };
        }
    }

    static Outcome exercise(Path file, Backend backend) {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long a0 = mx.getCurrentThreadAllocatedBytes();
        long t0 = System.nanoTime();
        Stage stage = Stage.LOAD;
        Throwable err = null;
        try (Model m = Model.load(file, Model.Options.defaults().withBackend(backend).withThreads(1).withBatchSize(8))) {
            stage = Stage.TOKENIZER;
            Tokenizer t = m.tokenizer();
            int n = t.vocabSize();
            int[] all = new int[n];
            for (int id = 0; id < n; id++) {
                all[id] = id;
                t.tokenBytes(id);
                t.tokenText(id);
                t.tokenString(id);
                t.isEog(id);
            }
            t.decode(all);
            Throwable encodeError = null;
            for (String p : PROBES) {
                try {
                    t.decode(t.encode(p));
                    t.decode(t.encode(p, false, true));
                } catch (IllegalArgumentException e) {
                    if (encodeError == null) encodeError = e;
                }
            }
            stage = Stage.TEMPLATE;
            Throwable templateError = null;
            try {
                ChatTemplate ct = m.chatTemplate();
                String r = ct.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello {{ 7*7 }} {% raw %}"),
                        ChatMessage.assistant("Hi."), ChatMessage.user("Again?")), true);
                try {
                    ct.tokenize(r, t);
                } catch (IllegalArgumentException e) {
                    if (encodeError == null) encodeError = e;
                }
            } catch (ChatTemplateException | GgufFormatException e) {
                templateError = e;
            }
            stage = Stage.GENERATE;
            try (Session s = m.newSession(Math.min(m.trainedContextLength(), 16))) {
                int[] prompt = t.bos() >= 0 ? new int[] {t.bos(), n - 1, 5} : new int[] {n - 1, 5, 7};
                s.generate(prompt, 3, SamplingParams.greedy(), null);
                s.reset();
                s.generate(prompt, 2, SamplingParams.defaults(1), null);
            } catch (ContextOverflowException e) {
                // documented: a context_length of 1 or 2 holds no 3-token prompt
            }
            // report the first refusal of a later step; generation ran regardless
            if (encodeError != null) {
                stage = Stage.TOKENIZER;
                err = encodeError;
            } else if (templateError != null) {
                stage = Stage.TEMPLATE;
                err = templateError;
            } else {
                stage = Stage.DONE;
            }
        } catch (Throwable e) {
            err = e;
        }
        return new Outcome(stage, err, mx.getCurrentThreadAllocatedBytes() - a0, (System.nanoTime() - t0) / 1_000_000);
    }

    @Test
    void baseFilesRunOnBothBackends() throws Exception {
        for (HostileCorpus.Case c : HostileCorpus.bases(dir)) {
            Path f = dir.resolve("base-" + c.name() + ".gguf");
            Files.write(f, c.bytes());
            for (Backend b : Backend.values()) {
                Outcome o = exercise(f, b);
                if (o.error() != null) throw new AssertionError(c + " on " + b + ": " + o.stage(), o.error());
                assertEquals(Stage.DONE, o.stage(), c + " on " + b);
            }
        }
    }

    @Test
    void everyHostileCaseEndsInADocumentedWay() throws Exception {
        String only = System.getProperty("panamax.hostile.only", ""); // a class prefix, e.g. 14, while working on one
        List<HostileCorpus.Case> cases = HostileCorpus.generate(dir, RANDOM_PER_BASE).stream()
                .filter(c -> c.cls().startsWith(only)).toList();
        Map<String, int[]> table = new TreeMap<>(); // class -> rejected, encode refused, template refused, ran, java runs
        List<String> defects = new ArrayList<>();
        List<String> slow = new ArrayList<>();
        long maxAlloc = 0, maxMillis = 0;
        String slowest = "";
        ExecutorService ex = Executors.newSingleThreadExecutor();
        long start = System.nanoTime();
        try {
            int i = 0;
            for (HostileCorpus.Case c : cases) {
                Path f = dir.resolve("case-" + (i++ % 4) + ".gguf");
                Files.write(f, c.bytes());
                int[] row = table.computeIfAbsent(c.cls(), k -> new int[6]);
                for (Backend b : Backend.values()) {
                    Future<Outcome> fut = ex.submit(() -> exercise(f, b));
                    Outcome o;
                    try {
                        o = fut.get(CASE_LIMIT_S, TimeUnit.SECONDS);
                    } catch (TimeoutException e) {
                        fut.cancel(true);
                        defects.add(c + " on " + b + ": no result after " + CASE_LIMIT_S + " s");
                        ex.shutdownNow();
                        ex = Executors.newSingleThreadExecutor();
                        break;
                    }
                    if (o.defect()) {
                        defects.add(c + " on " + b + " at " + o.stage() + ": " + o.error());
                        if (defects.size() <= 5) o.error().printStackTrace();
                    } else if (o.allocated() > ALLOC_LIMIT) {
                        defects.add(c + " on " + b + ": allocated " + (o.allocated() >> 20) + " MiB");
                    }
                    if (o.millis() > 1000 || o.allocated() > (64L << 20)) {
                        slow.add(String.format("%s on %s: %d ms, %d MiB, %s", c, b, o.millis(), o.allocated() >> 20, o.error()));
                    }
                    if (o.allocated() > maxAlloc) maxAlloc = o.allocated();
                    if (o.millis() > maxMillis) {
                        maxMillis = o.millis();
                        slowest = c + " on " + b;
                    }
                    if (b == Backend.NATIVE) {
                        row[switch (o.label()) {
                            case "rejected" -> 0;
                            case "encode refused" -> 1;
                            case "template refused" -> 2;
                            case "ran" -> 3;
                            default -> 4;
                        }]++;
                        if (o.stage() == Stage.LOAD && o.error() != null) break; // rejected before any kernel existed
                        if (c.cls().startsWith("14-")) break; // a template does not depend on the backend
                    } else {
                        row[5]++;
                    }
                }
            }
        } finally {
            ex.shutdownNow();
        }
        StringBuilder sb = new StringBuilder(String.format("%n%-24s %6s %9s %8s %9s %5s %7s %9s%n", "class", "cases", "rejected",
                "encode", "template", "ran", "failed", "java runs"));
        int[] total = new int[6];
        for (var e : table.entrySet()) {
            int[] r = e.getValue();
            int n = r[0] + r[1] + r[2] + r[3] + r[4];
            sb.append(String.format("%-24s %6d %9d %8d %9d %5d %7d %9d%n", e.getKey(), n, r[0], r[1], r[2], r[3], r[4], r[5]));
            for (int k = 0; k < 6; k++) total[k] += r[k];
        }
        sb.append(String.format("%-24s %6d %9d %8d %9d %5d %7d %9d%n", "total", total[0] + total[1] + total[2] + total[3] + total[4],
                total[0], total[1], total[2], total[3], total[4], total[5]));
        sb.append(String.format("max heap allocated by one case: %d MiB; slowest case: %s (%d ms); all cases: %.1f s%n",
                maxAlloc >> 20, slowest, maxMillis, (System.nanoTime() - start) / 1e9));
        System.out.print(sb);
        Path report = Path.of(System.getProperty("panamax.source.root", "."), "java", "target", "hostile-corpus-report.txt");
        Files.createDirectories(report.getParent());
        Files.writeString(report, sb + "\ndefects:\n" + String.join("\n", defects) + "\n\nslow or large cases:\n" + String.join("\n", slow) + "\n");
        assertTrue(defects.isEmpty(), defects.size() + " defects:\n" + String.join("\n", defects.subList(0, Math.min(60, defects.size()))));
    }
}
