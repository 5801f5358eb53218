package dev.panamax.grammar;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.gguf.GgufFile;
import dev.panamax.sampling.Sampler;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The token mask against its definition: the mask (unions of what each stack's top frames allow on their own, plus a
 * trie walk for the tokens that depend on the rest of the stack; cached per state) agrees with checking every token on its own
 * (llama_grammar_reject_candidates' recursion) along random walks through several grammars, on the 4,096-piece
 * SentencePiece vocabulary of the model trained here; sampling under a grammar only ever produces allowed tokens.
 */
class GrammarMatcherTest {

    static Tokenizer tok;

    @BeforeAll
    static void load() throws Exception {
        try (GgufFile f = GgufFile.open(Path.of("../models/kjv-llama-4.6m-f16.gguf"))) {
            tok = Tokenizer.fromGguf(f.metadata());
        }
    }

    static String resource(String name) throws Exception {
        try (var in = GrammarMatcherTest.class.getResourceAsStream("/grammar/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void trieMaskEqualsPerTokenCheck() throws Exception {
        List<Grammar> grammars = List.of(Grammar.parse(resource("json.gbnf")), Grammar.parse(resource("arithmetic.gbnf")),
                Grammar.parse(resource("list.gbnf")), Grammar.parse(resource("japanese.gbnf")),
                Grammar.parse("root ::= [^a-z]{2,5} \"é\" [ぁ-ゟ]+ (\"x\" | [^\\x00-\\x7F])*"),
                // the same rule positions at many depths, each with another rest of the stack (masks share their tops)
                Grammar.parse("root ::= item+\nitem ::= \"(\" item* \")\" ws | [a-z ]+ | \"\\\"\" [^\"]* \"\\\"\" [,;]? ws\n"
                        + "ws ::= | \" \" | \"\\n\" [ \\t]{0,3}"),
                Grammar.fromJsonSchema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
                        + "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":130}},\"required\":[\"name\"]}"));
        SplittableRandom rnd = new SplittableRandom(7);
        int n = tok.vocabSize(), checked = 0;
        for (Grammar g : grammars) {
            GrammarMatcher m = new GrammarMatcher(g, tok, n);
            for (int step = 0; step < 40; step++) {
                long[] mask = m.allowedMask();
                int[] allowed = new int[n];
                int k = 0;
                for (int id = 0; id < n; id++) {
                    boolean fast = (mask[id >>> 6] >>> (id & 63) & 1) != 0;
                    assertEquals(m.allowsSlow(id), fast, "token " + id + " '" + tok.tokenString(id) + "' at step " + step + " of\n" + g.source());
                    assertEquals(fast, m.allowsOne(id), "one-token check, token " + id + " at step " + step);
                    if (fast && !tok.isEog(id)) allowed[k++] = id;
                    checked++;
                }
                if (k == 0) break;
                assertTrue(m.accept(allowed[rnd.nextInt(k)]));
            }
        }
        assertTrue(checked > 100_000, "checked " + checked);
    }

    /**
     * The same on a vocabulary of every piece of one to three symbols (JSON punctuation, letters, escapes, a two-byte
     * character whole and split into its bytes, a three-byte one): pieces such as {@code "],} or {@code \"} that end
     * a string, an array and go on in the enclosing rules are the ones a mask must take from the rest of the stack.
     */
    @Test
    void maskEqualsPerTokenCheckOnEveryShortPiece() throws Exception {
        byte[][] sym = {b("a"), b("z"), b("1"), b(" "), b("\n"), b("\""), b("\\"), b(","), b(":"), b("{"), b("}"), b("["),
                b("]"), b("("), b(")"), b("é"), {(byte) 0xC3}, {(byte) 0xA9}, b("ぁ")};
        List<byte[]> pieces = new java.util.ArrayList<>();
        for (byte[] x : sym) {
            pieces.add(x);
            for (byte[] y : sym) {
                pieces.add(cat(x, y));
                for (byte[] z : sym) pieces.add(cat(x, y, z));
            }
        }
        int n = pieces.size() + 1; // the last id: end of generation
        VocabIndex v = new VocabIndex(n, (id, sp) -> id < pieces.size() ? pieces.get(id) : new byte[0], id -> id == n - 1);
        List<Grammar> grammars = List.of(Grammar.parse(resource("json.gbnf")),
                Grammar.parse("root ::= item+\nitem ::= \"(\" item* \")\" ws | [a-z ]+ | \"\\\"\" [^\"]* \"\\\"\" [,:]? ws\n"
                        + "ws ::= | \" \" | \"\\n\" [ ]{0,3}"),
                Grammar.parse("root ::= \"[\" (v (\",\" v)*)? \"]\"\nv ::= [0-9]+ | \"é\"+ | \"(\" root \")\" | [^\\x00-\\x7F]"));
        SplittableRandom rnd = new SplittableRandom(11);
        int checked = 0;
        for (Grammar g : grammars) {
            for (int walk = 0; walk < 6; walk++) {
                GrammarMatcher m = new GrammarMatcher(g, v, n, null);
                for (int step = 0; step < 30; step++) {
                    long[] mask = m.allowedMask();
                    int[] allowed = new int[n];
                    int k = 0;
                    for (int id = 0; id < n; id++) {
                        boolean fast = (mask[id >>> 6] >>> (id & 63) & 1) != 0;
                        if (m.allowsSlow(id) != fast) {
                            fail("token " + id + " '" + new String(pieces.get(id), StandardCharsets.UTF_8) + "': mask " + fast
                                    + " at step " + step + " of\n" + g.source());
                        }
                        if (fast && id < n - 1) allowed[k++] = id;
                        checked++;
                    }
                    if (k == 0) break;
                    // prefer pieces that open something: deeper stacks
                    int pick = allowed[rnd.nextInt(k)];
                    for (int t = 0; t < 3 && !opens(pieces.get(pick)); t++) pick = allowed[rnd.nextInt(k)];
                    assertTrue(m.accept(pick));
                }
            }
        }
        assertTrue(checked > 1_000_000, "checked " + checked);
    }

    static boolean opens(byte[] piece) {
        for (byte c : piece) if (c == '[' || c == '{' || c == '(' || c == '"') return true;
        return false;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] cat(byte[]... parts) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    @Test
    void sampledTokensStayInTheGrammarAndEndItCleanly() throws Exception {
        Grammar g = Grammar.parse("root ::= \"yes\" | \"no\" | \"maybe, \" [0-9]{1,3} \"%\"");
        int n = tok.vocabSize();
        SplittableRandom rnd = new SplittableRandom(3);
        for (int run = 0; run < 30; run++) {
            Sampler s = new Sampler(SamplingParams.defaults(run).withGrammar(g), n, tok);
            StringBuilder text = new StringBuilder();
            float[] logits = new float[n];
            for (int step = 0; step < 20; step++) {
                for (int i = 0; i < n; i++) logits[i] = (float) rnd.nextGaussian() * 3;
                int t = s.sample(logits);
                assertNotEquals(Sampler.NO_TOKEN, t);
                if (tok.isEog(t)) break;
                text.append(tok.tokenText(t));
            }
            assertTrue(text.toString().matches("yes|no|maybe, [0-9]{1,3}%"), "'" + text + "'");
            assertTrue(s.grammar().canEnd());
        }
    }

    /**
     * Steady-state decode under a grammar allocates nothing on the Java heap: the same logits decoded again by a new
     * sampler reach only states whose masks and transitions are cached (the sampled token checked, masks applied,
     * the grammar advanced, end of generation recognized), measured with the thread's allocation counter.
     */
    @Test
    void cachedStatesAllocateNothing() throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        Grammar g = Grammar.parse(resource("json.gbnf") + "\n# allocation test");
        int n = tok.vocabSize(), steps = 400;
        SplittableRandom rnd = new SplittableRandom(5);
        float[] pool = new float[n + 4096];
        for (int i = 0; i < pool.length; i++) pool[i] = (float) rnd.nextGaussian() * 4;
        int[] offsets = rnd.ints(steps, 0, 4096).toArray();
        float[] logits = new float[n];
        long bytes = 0;
        int masked = 0;
        for (int pass = 0; pass < 30; pass++) { // the first pass fills the caches, then C2 compiles the path
            Sampler s = new Sampler(SamplingParams.greedy().withGrammar(g), n, tok);
            long before = mx.getCurrentThreadAllocatedBytes(), hits = s.grammar().maskHits();
            for (int i = 0; i < steps; i++) {
                System.arraycopy(pool, offsets[i], logits, 0, n);
                int t = s.sample(logits);
                if (t == Sampler.NO_TOKEN || tok.isEog(t)) s.grammar().reset();
            }
            bytes = mx.getCurrentThreadAllocatedBytes() - before;
            masked = (int) (s.grammar().maskHits() - hits);
        }
        assertTrue(masked > 5, "the walk should need masks: " + masked);
        assertEquals(0, bytes, steps + " tokens through cached states allocated " + bytes + " bytes");
    }

    @Test
    void greedyPicksTheBestAllowedTokenAndStopsWhenNothingIsAllowed() {
        int n = tok.vocabSize();
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = i * 1e-4f; // the highest ids win unconstrained
        Sampler s = new Sampler(SamplingParams.greedy().withGrammar(Grammar.parse("root ::= [0-9]+")), n, tok);
        int t = s.sample(logits.clone());
        assertTrue(tok.tokenText(t).matches("[0-9]+"), tok.tokenText(t));
        int best = -1;
        for (int i = 0; i < n; i++) if (tok.tokenText(i).matches("[0-9]+") && !tok.isEog(i)) best = i;
        assertEquals(best, t);
        // a character no token of this vocabulary holds: no token allowed, not even the end
        Sampler dead = new Sampler(SamplingParams.greedy().withGrammar(Grammar.parse("root ::= \"\\U0001F600\"")), n, tok);
        long[] mask = dead.grammar().allowedMask();
        boolean anyByte = Arrays.stream(mask).anyMatch(w -> w != 0);
        if (!anyByte) assertEquals(Sampler.NO_TOKEN, dead.sample(logits.clone()));
        Sampler blocked = new Sampler(SamplingParams.greedy().withGrammar(Grammar.parse("root ::= \"\\u0001\\u0002\"")), n, tok);
        int r = blocked.sample(logits.clone());
        assertTrue(r == Sampler.NO_TOKEN || tok.tokenString(r).startsWith("<0x01>"), "got " + r);
    }
}
