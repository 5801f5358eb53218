package dev.panamax.grammar;

import static dev.panamax.grammar.GrammarTestSupport.matches;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * String patterns that ECMA-262 refuses are refused here too, with the reason, rather than written as GBNF that does not
 * parse or recurses without input (the schema fuzz campaigns' findings); the lazy '?' after a quantifier is accepted.
 */
class JsonSchemaPatternTest {

    private static Grammar pattern(String regex) {
        return Grammar.fromJsonSchema("{\"type\": \"string\", \"pattern\": \"" + regex.replace("\\", "\\\\") + "\"}");
    }

    @Test
    void quantifiersWithNothingToRepeatAreRefused() {
        for (String p : new String[] {"^+a$", "^a|+b$", "^(|*)$", "^a|{2}$", "^(?:+)$", "^d?*$", "^a**$", "^a{2}+$"}) {
            GrammarException e = assertThrows(GrammarException.class, () -> pattern(p), p);
            assertTrue(e.getMessage().contains("nothing to repeat"), p + ": " + e.getMessage());
        }
        GrammarException e = assertThrows(GrammarException.class, () -> pattern("^a{3,2}$"));
        assertTrue(e.getMessage().contains("minimum <= maximum"), e.getMessage());
    }

    @Test
    void lazyQuantifiersAndAlternativesMatchAsUsual() {
        Grammar g = pattern("^(ab|c)+?d$");
        assertTrue(matches(g, "\"abcd\""));
        assertTrue(matches(g, "\"cd\""));
        assertFalse(matches(g, "\"d\""));
        Grammar alt = pattern("^a|b+$");
        assertTrue(matches(alt, "\"a\""));
        assertTrue(matches(alt, "\"bbb\""));
        assertFalse(matches(alt, "\"ab\""));
    }
}
