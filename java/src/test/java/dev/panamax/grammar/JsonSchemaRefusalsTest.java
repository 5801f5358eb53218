package dev.panamax.grammar;

import static dev.panamax.grammar.GrammarTestSupport.matches;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * Schemas refused with their reason rather than converted to GBNF that does not parse or recurses without input (the
 * schema fuzz campaigns' findings): string patterns that ECMA-262 refuses (the lazy '?' after a quantifier is accepted),
 * a $ref that reaches itself before any value starts.
 */
class JsonSchemaRefusalsTest {

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

    @Test
    void aReferenceToItselfBeforeAnyValueIsRefused() {
        GrammarException e = assertThrows(GrammarException.class, () -> Grammar.fromJsonSchema(
                "{\"properties\": {\"a\": {\"anyOf\": [{\"$ref\": \"#/properties/a/anyOf/0\"}, {\"type\": \"boolean\"}]}}}"));
        assertTrue(e.getMessage().contains("refers to itself"), e.getMessage());
        // recursion inside a value (an array of itself) is fine
        Grammar g = Grammar.fromJsonSchema("{\"$defs\": {\"t\": {\"anyOf\": [{\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/t\"}},"
                + " {\"type\": \"integer\"}]}}, \"$ref\": \"#/$defs/t\"}");
        assertTrue(matches(g, "[[1],[[2,3]]]"));
    }
}
