package dev.panamax.grammar;

import static dev.panamax.grammar.Grammar.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** llama.cpp's test-grammar-parser.cpp cases (its data: grammars, symbol ids, rule elements) and error positions. */
class GbnfParserTest {

    private static void verify(String gbnf, Map<String, Integer> symbols, int[]... rules) {
        Grammar g = Grammar.parse(gbnf);
        assertEquals(symbols, Map.copyOf(g.symbols()), gbnf);
        assertEquals(rules.length, g.ruleCount(), gbnf);
        for (int i = 0; i < rules.length; i++) assertArrayEquals(rules[i], g.rule(i), "rule " + i + " of " + gbnf);
    }

    @Test
    void failures() {
        for (String g : List.of("root ::= \"a\"{,}\"", "root ::= (((((([^x]*){0,99}){0,99}){0,99}){0,99}){0,99}){0,99}",
                "root ::= \"a\"{,10}\"", "root ::= \"a\"{5000}", "root ::= \"a\"{5000,}", "root ::= \"a\"{5000,6000}")) {
            assertThrows(GrammarException.class, () -> Grammar.parse(g), g);
        }
    }

    @Test
    void repetitions() {
        verify("root ::= \"a\"{0,5000}", Map.of("root", 0, "root_1", 1),
                new int[] {RULE_REF, 1, END, 0}, new int[] {CHAR, 'a', RULE_REF, 1, ALT, 0, END, 0});
        verify("root ::= \"a\"{3,5000}", Map.of("root", 0, "root_1", 1),
                new int[] {CHAR, 'a', CHAR, 'a', CHAR, 'a', RULE_REF, 1, END, 0}, new int[] {CHAR, 'a', RULE_REF, 1, ALT, 0, END, 0});
        verify("root  ::= \"a\" | [bdx-z] | [^1-3]", Map.of("root", 0),
                new int[] {CHAR, 'a', ALT, 0, CHAR, 'b', CHAR_ALT, 'd', CHAR_ALT, 'x', CHAR_RNG_UPPER, 'z', ALT, 0, CHAR_NOT, '1', CHAR_RNG_UPPER, '3', END, 0});
        verify("root  ::= a+\na     ::= \"a\"", Map.of("a", 1, "root", 0, "root_2", 2),
                new int[] {RULE_REF, 1, RULE_REF, 2, END, 0}, new int[] {CHAR, 'a', END, 0}, new int[] {RULE_REF, 1, RULE_REF, 2, ALT, 0, END, 0});
        verify("root  ::= \"a\"?", Map.of("root", 0, "root_1", 1), new int[] {RULE_REF, 1, END, 0}, new int[] {CHAR, 'a', ALT, 0, END, 0});
        verify("root  ::= \"a\"{2}", Map.of("root", 0), new int[] {CHAR, 'a', CHAR, 'a', END, 0});
        verify("root  ::= \"a\"{ 4}", Map.of("root", 0), new int[] {CHAR, 'a', CHAR, 'a', CHAR, 'a', CHAR, 'a', END, 0});
        verify("root  ::= \"a\"{2,4}", Map.of("root", 0, "root_1", 1, "root_2", 2),
                new int[] {CHAR, 'a', CHAR, 'a', RULE_REF, 2, END, 0}, new int[] {CHAR, 'a', ALT, 0, END, 0},
                new int[] {CHAR, 'a', RULE_REF, 1, ALT, 0, END, 0});
    }

    @Test
    void nestedGroups() {
        verify("""
                root  ::= (expr "=" term "\\n")+
                expr  ::= term ([-+*/] term)*
                term  ::= [0-9]+
                """, Map.of("expr", 2, "expr_5", 5, "expr_6", 6, "root", 0, "root_1", 1, "root_4", 4, "term", 3, "term_7", 7),
                new int[] {RULE_REF, 1, RULE_REF, 4, END, 0},
                new int[] {RULE_REF, 2, CHAR, '=', RULE_REF, 3, CHAR, '\n', END, 0},
                new int[] {RULE_REF, 3, RULE_REF, 6, END, 0},
                new int[] {CHAR, '0', CHAR_RNG_UPPER, '9', RULE_REF, 7, END, 0},
                new int[] {RULE_REF, 1, RULE_REF, 4, ALT, 0, END, 0},
                new int[] {CHAR, '-', CHAR_ALT, '+', CHAR_ALT, '*', CHAR_ALT, '/', RULE_REF, 3, END, 0},
                new int[] {RULE_REF, 5, RULE_REF, 6, ALT, 0, END, 0},
                new int[] {CHAR, '0', CHAR_RNG_UPPER, '9', RULE_REF, 7, ALT, 0, END, 0});
    }

    @Test
    void tokens() {
        verify("root  ::= <[1000]> !<[1001]> <[1001]>", Map.of("root", 0),
                new int[] {TOKEN, 1000, TOKEN_NOT, 1001, TOKEN, 1001, END, 0});
    }

    @Test
    void errorsHaveLineAndColumn() {
        GrammarException e = assertThrows(GrammarException.class, () -> Grammar.parse("root ::= \"a\"\nitem ::= \"b\" x ]\n"));
        assertEquals(2, e.line());
        assertTrue(e.getMessage().startsWith("line 2, column 16: expecting newline or end"), e.getMessage());
        e = assertThrows(GrammarException.class, () -> Grammar.parse("root ::= \"a\" \\q"));
        assertEquals(1, e.line());
        assertEquals(14, e.column());
        e = assertThrows(GrammarException.class, () -> Grammar.parse("root := \"a\""));
        assertTrue(e.getMessage().contains("expecting ::="), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void exampleGrammarsOfTheToolkitParse() throws Exception {
        for (String name : List.of("arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list")) {
            var in = getClass().getResourceAsStream("/grammar/" + name + ".gbnf");
            assertNotNull(in, name);
            Grammar.parse(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /** Deep nesting is a clear error at the bound, never a StackOverflowError (however deep the input goes). */
    @Test
    void groupsNestedBeyondTheBoundAreRefused() {
        String ok = "root ::= " + "(".repeat(GbnfParser.MAX_GROUP_DEPTH) + "\"a\"" + ")".repeat(GbnfParser.MAX_GROUP_DEPTH);
        assertNotNull(Grammar.parse(ok));
        for (int depth : new int[] {GbnfParser.MAX_GROUP_DEPTH + 1, 100_000}) {
            String deep = "root ::= " + "(".repeat(depth) + "\"a\"" + ")".repeat(depth);
            GrammarException e = assertThrows(GrammarException.class, () -> Grammar.parse(deep));
            assertTrue(e.getMessage().contains("nested deeper"), e.getMessage());
        }
    }
}
