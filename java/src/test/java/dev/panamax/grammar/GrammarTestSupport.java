package dev.panamax.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Helpers shared by the grammar tests: a one-token vocabulary for character-level matching, the ported data. */
final class GrammarTestSupport {
    private GrammarTestSupport() {}

    /** A matcher over a one-token dummy vocabulary: tests drive it with acceptPiece, as llama.cpp's tests do. */
    static GrammarMatcher charMatcher(Grammar g) {
        VocabIndex v = new VocabIndex(1, (id, sp) -> "x".getBytes(StandardCharsets.UTF_8), id -> false);
        return new GrammarMatcher(g, v, 1, null);
    }

    /**
     * llama.cpp's match_string: each code point is a piece of token 0; a marker \u0001N\u0001 is token N with the
     * piece "<[N]>"; matched iff no step empties the stacks and the grammar can end after the last.
     */
    static boolean matches(Grammar g, String input) {
        GrammarMatcher m = charMatcher(g);
        int i = 0;
        while (i < input.length()) {
            int cp = input.codePointAt(i);
            if (cp == 1) {
                int j = input.indexOf('\u0001', i + 1);
                int id = Integer.parseInt(input.substring(i + 1, j));
                if (!m.acceptPiece(id, ("<[" + id + "]>").getBytes(StandardCharsets.UTF_8))) return false;
                i = j + 1;
                continue;
            }
            if (!m.acceptPiece(0, new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8))) return false;
            i += Character.charCount(cp);
        }
        return m.canEnd();
    }

    static JsonNode resource(String name) throws IOException {
        try (InputStream in = GrammarTestSupport.class.getResourceAsStream("/grammar/" + name)) {
            if (in == null) throw new IOException("missing test resource /grammar/" + name);
            return new ObjectMapper().readTree(in);
        }
    }
}
