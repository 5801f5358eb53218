package dev.panamax.grammar;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * llama.cpp's own grammar cases, its data ported (scripts/extract_grammar_tests.py wrote the JSON from
 * tests/test-grammar-integration.cpp and tests/test-json-schema-to-grammar.cpp): every grammar and schema accepts
 * the strings llama.cpp accepts and rejects those it rejects; the failure cases fail.
 */
class LlamaCppGrammarCasesTest {

    @TestFactory
    Stream<DynamicTest> integrationCases() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : GrammarTestSupport.resource("llamacpp-grammar-integration.json")) {
            String name = c.get("kind").asText() + ": " + c.get("desc").asText();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                if (name.equals("schema: required props")) { // uses uniqueItems, which no grammar can enforce
                    GrammarException e = assertThrows(GrammarException.class, () -> Grammar.fromJsonSchema(c.get("text").asText()));
                    assertTrue(e.getMessage().contains("uniqueItems"), e.getMessage());
                    return;
                }
                Grammar g = c.get("kind").asText().equals("schema") ? Grammar.fromJsonSchema(c.get("text").asText())
                        : Grammar.parse(c.get("text").asText());
                for (JsonNode s : c.get("passing")) assertTrue(GrammarTestSupport.matches(g, s.asText()), "should match: " + s.asText() + "\n" + g.source());
                for (JsonNode s : c.get("failing")) assertFalse(GrammarTestSupport.matches(g, s.asText()), "should not match: " + s.asText() + "\n" + g.source());
            }));
        }
        assertTrue(tests.size() >= 40, "ported cases: " + tests.size());
        return tests.stream();
    }

    /**
     * Schema cases: what llama.cpp converts, ours converts too, to the same grammar text where the construction is the
     * same (it is for most); llama.cpp's expected grammar parses here; its failures fail here.
     */
    @TestFactory
    Stream<DynamicTest> schemaToGrammarCases() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : GrammarTestSupport.resource("llamacpp-json-schema-to-grammar.json")) {
            String desc = c.get("desc").asText();
            String schema = c.get("schema").asText();
            boolean success = c.get("expect").asText().equals("SUCCESS");
            tests.add(DynamicTest.dynamicTest(desc, () -> {
                if (!success || DELIBERATE_ERRORS.contains(desc)) {
                    assertThrows(GrammarException.class, () -> Grammar.fromJsonSchema(schema), desc);
                    return;
                }
                String expected = c.get("grammar").asText();
                Grammar.parse(expected); // llama.cpp's output is a grammar we read
                String[] mended = MENDED.get(desc);
                if (mended != null) {
                    assertTrue(expected.contains(mended[0]), desc + ": llama.cpp's case changed");
                    expected = expected.replace(mended[0], mended[1]);
                }
                String ours = JsonSchemaGrammar.toGbnf(schema);
                Grammar.parse(ours);
                assertEquals(normalize(expected), normalize(ours), desc);
            }));
        }
        return tests.stream();
    }

    /** Where llama.cpp warns and accepts any string, a pattern it cannot convert is an error here (never dropped). */
    static final java.util.Set<String> DELIBERATE_ERRORS = java.util.Set.of("unanchored regexp",
            "regexp with unsupported shorthand", "unsupported regexp in a property");

    /**
     * Where llama.cpp's grammar admits what the schema does not, ours differs: {its text, ours}. A negative maximum: the
     * digits after "-" may start with 0 there ("-05", "-00" for maximum -5; JsonSchemaIntegerBoundsTest checks ours).
     */
    static final java.util.Map<String, String[]> MENDED = java.util.Map.of(
            "max -5", new String[] {"\"-\" ([0-4] [0-9]{1,15}", "\"-\" ([1-4] [0-9]{1,15}"});

    static String normalize(String gbnf) {
        List<String> lines = new ArrayList<>();
        for (String l : gbnf.split("\n")) if (!l.isBlank()) lines.add(l.strip());
        lines.sort(null);
        return String.join("\n", lines);
    }

    @Test
    void leftRecursionIsRejected() {
        for (String g : List.of("root ::= \"a\" | root \"a\"",
                "root ::= asdf\nasdf ::= \"a\" | asdf \"a\"\n",
                "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | asdf \"d\" | \"e\"",
                "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | empty asdf \"d\" | \"e\"\nempty ::= \"blah\" | ")) {
            GrammarException e = assertThrows(GrammarException.class, () -> Grammar.parse(g), g);
            assertTrue(e.getMessage().contains("left recursion"), e.getMessage());
        }
    }

    @Test
    void missingRulesAreErrors() {
        GrammarException e = assertThrows(GrammarException.class, () -> Grammar.parse(
                "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= numero\nnumber ::= [0-9]+"));
        assertTrue(e.getMessage().contains("undefined rule 'numero'"), e.getMessage());
        assertEquals(3, e.line());
        assertEquals(10, e.column());
        assertThrows(GrammarException.class, () -> Grammar.parse("rot ::= expr\nexpr ::= [0-9]+"));
        assertThrows(GrammarException.class, () -> Grammar.parse("root ::= \"foobar\"", "nonexistent"));
        assertNotNull(Grammar.parse("foobar ::= \"foobar\"", "foobar"));
    }
}
