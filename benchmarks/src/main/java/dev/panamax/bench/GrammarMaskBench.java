package dev.panamax.bench;

import dev.panamax.gguf.GgufFile;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarMatcher;
import dev.panamax.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Cost of the grammar mask per generated token on a real vocabulary: a JSON document is tokenized and fed token by
 * token; each step times what the sampler does under a grammar (mask the logits, then advance by the token). Reports
 * p50/p99 per token, the first pass (cold caches: a fresh request) and later passes (the same matcher again: states seen
 * before), for json.gbnf and a 20-property JSON schema.
 *
 * usage: GrammarMaskBench VOCAB.gguf JSON_GBNF [passes]
 */
public final class GrammarMaskBench {

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
        run("json.gbnf", Grammar.parse(Files.readString(Path.of(args[1]))), doc.toString(), tok, passes);
        run("20-property schema", Grammar.fromJsonSchema(schema.toString()), sdoc.toString(), tok, passes);
    }

    static void run(String name, Grammar g, String text, Tokenizer tok, int passes) {
        int[] ids = tok.encode(text, false);
        int n = tok.vocabSize();
        float[] logits = new float[n];
        long t0 = System.nanoTime();
        GrammarMatcher m = new GrammarMatcher(g, tok, n);
        long setup = System.nanoTime() - t0;
        for (int pass = 0; pass < passes; pass++) {
            m.reset();
            long[] ns = new long[ids.length];
            for (int i = 0; i < ids.length; i++) {
                long a = System.nanoTime();
                int allowed = m.apply(logits);
                boolean ok = m.accept(ids[i]);
                ns[i] = System.nanoTime() - a;
                if (allowed == 0 || !ok) throw new IllegalStateException(name + ": token " + i + " '" + tok.tokenText(ids[i]) + "' rejected");
            }
            if (!m.canEnd()) throw new IllegalStateException(name + ": document incomplete");
            Arrays.sort(ns);
            System.out.printf("%-20s vocab %d  pass %d (%s): %d tokens  mask+accept per token p50 %.1f us  p99 %.1f us  max %.1f ms  "
                            + "(masks computed %d, cached %d)%s%n", name, n, pass, pass == 0 ? "cold" : "warm", ids.length,
                    ns[ns.length / 2] / 1e3, ns[(int) (ns.length * 0.99)] / 1e3, ns[ns.length - 1] / 1e6, m.maskMisses(), m.maskHits(),
                    pass == 0 ? String.format("  [vocabulary index + matcher %.0f ms]", setup / 1e6) : "");
        }
    }
}
