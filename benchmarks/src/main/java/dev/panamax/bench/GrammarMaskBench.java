package dev.panamax.bench;

import dev.panamax.gguf.GgufFile;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarMatcher;
import dev.panamax.grammar.JsonSchemaGrammar;
import dev.panamax.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Cost of the grammar mask per generated token on a real vocabulary: a JSON document is tokenized and fed token by
 * token; each step times what the sampler does under a grammar (mask the logits, then advance by the token). Reports
 * p50/p99 per token, the first pass (a grammar whose masks were never computed, after the JIT warmed up on other
 * instances) and later passes (states seen before: cached masks), for json.gbnf and a 20-property JSON schema; and the
 * sampler's usual path (check the sampled token alone, then advance) from cold.
 *
 * usage: GrammarMaskBench VOCAB.gguf JSON_GBNF [passes]
 */
public final class GrammarMaskBench {

    // thread CPU time besides wall time: on a machine shared by many processes the wall time includes waiting for a core
    private static final java.lang.management.ThreadMXBean THREAD = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        Tokenizer tok;
        try (GgufFile f = GgufFile.open(Path.of(args[0]))) {
            tok = Tokenizer.fromGguf(f.metadata());
        }
        int passes = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        StringBuilder doc = new StringBuilder("{\"title\": \"Grammar benchmark\", \"items\": [");
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 24; i++) {
            if (i > 0) doc.append(", ");
            doc.append("{\"id\": ").append(r.nextInt(100000)).append(", \"name\": \"item number ").append(i)
                    .append("\", \"price\": ").append(r.nextInt(1000)).append('.').append(r.nextInt(100))
                    .append(", \"tags\": [\"a\", \"bb\", \"ccc\"], \"ok\": ").append(i % 2 == 0).append('}');
        }
        doc.append("]}");
        StringBuilder schema = new StringBuilder("{\"type\": \"object\", \"properties\": {");
        StringBuilder sdoc = new StringBuilder("{");
        for (int i = 0; i < 20; i++) {
            if (i > 0) { schema.append(", "); sdoc.append(", "); }
            String type = switch (i % 4) { case 0 -> "string"; case 1 -> "integer"; case 2 -> "boolean"; default -> "number"; };
            schema.append("\"field_").append(i).append("\": {\"type\": \"").append(type).append("\"}");
            sdoc.append("\"field_").append(i).append("\": ").append(switch (i % 4) {
                case 0 -> "\"value of field " + i + "\""; case 1 -> String.valueOf(i * 37); case 2 -> "true"; default -> i + ".25"; });
        }
        schema.append("}, \"required\": [");
        for (int i = 0; i < 20; i++) schema.append(i > 0 ? ", " : "").append("\"field_").append(i).append('"');
        schema.append("]}");
        sdoc.append("}");
        String json = Files.readString(Path.of(args[1]));
        String schemaGbnf = JsonSchemaGrammar.toGbnf(schema.toString());
        long t0 = System.nanoTime();
        new GrammarMatcher(Grammar.parse("root ::= \"x\""), tok, tok.vocabSize()); // the vocabulary index, once per tokenizer
        System.out.printf("vocabulary index: %.0f ms%n", (System.nanoTime() - t0) / 1e6);
        // the JIT warmed up on other instances of the grammars; then each measured run starts with a grammar instance
        // whose masks were never computed (a distinct text: parse() returns the cached instance for a text it has seen)
        for (int w = 0; w < 3; w++) {
            run(null, Grammar.parse(json + "\n# warm-up " + w), doc.toString(), tok, 2, false);
            run(null, Grammar.parse(schemaGbnf + "\n# warm-up " + w), sdoc.toString(), tok, 2, false);
            run(null, Grammar.parse(json + "\n# warm-up check " + w), doc.toString(), tok, 1, true);
        }
        run("json.gbnf", Grammar.parse(json + "\n# cold"), doc.toString(), tok, passes, false);
        run("20-property schema", Grammar.parse(schemaGbnf + "\n# cold"), sdoc.toString(), tok, passes, false);
        run("json.gbnf", Grammar.parse(json + "\n# cold check"), doc.toString(), tok, 1, true);
        run("20-property schema", Grammar.parse(schemaGbnf + "\n# cold check"), sdoc.toString(), tok, 1, true);
    }

    /**
     * Feeds the document token by token. checkFirst = false: each step masks the logits (the full mask) then advances;
     * true: each step checks the token alone then advances (the sampler's path when the sampled token is allowed).
     */
    static void run(String name, Grammar g, String text, Tokenizer tok, int passes, boolean checkFirst) {
        int[] ids = tok.encode(text, false);
        int n = tok.vocabSize();
        float[] logits = new float[n];
        GrammarMatcher m = new GrammarMatcher(g, tok, n);
        for (int pass = 0; pass < passes; pass++) {
            m.reset();
            long[] ns = new long[ids.length], cpu = new long[ids.length];
            for (int i = 0; i < ids.length; i++) {
                long c = THREAD.getCurrentThreadCpuTime();
                long a = System.nanoTime();
                int allowed = checkFirst ? (m.allows(ids[i]) ? 1 : 0) : m.apply(logits);
                boolean ok = m.accept(ids[i]);
                ns[i] = System.nanoTime() - a;
                cpu[i] = THREAD.getCurrentThreadCpuTime() - c;
                if (allowed == 0 || !ok) throw new IllegalStateException(name + ": token " + i + " '" + tok.tokenText(ids[i]) + "' rejected");
            }
            if (!m.canEnd()) throw new IllegalStateException(name + ": document incomplete");
            Arrays.sort(ns);
            Arrays.sort(cpu);
            if (name == null) continue;
            System.out.printf("%-20s vocab %d  %-12s pass %d (%s): %d tokens  wall p50 %.1f us p99 %.1f us max %.2f ms | "
                            + "thread CPU p50 %.1f us p99 %.1f us max %.2f ms  (masks computed %d)%n", name, n,
                    checkFirst ? "check+accept" : "mask+accept", pass, pass == 0 ? "cold" : "warm", ids.length,
                    ns[ns.length / 2] / 1e3, ns[(int) (ns.length * 0.99)] / 1e3, ns[ns.length - 1] / 1e6,
                    cpu[cpu.length / 2] / 1e3, cpu[(int) (cpu.length * 0.99)] / 1e3, cpu[cpu.length - 1] / 1e6, m.maskMisses());
        }
    }
}
