package dev.panamax.grammar;

import static dev.panamax.grammar.GrammarTestSupport.matches;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * Integer bounds at the edges of the 64-bit range (the schema fuzz campaign's finding: a minimum of 35 digits was
 * clamped to Long.MAX_VALUE, and a one-sided bound of 17+ digits asked for more digits than the 16-digit cap).
 */
class JsonSchemaIntegerBoundsTest {

    private static Grammar integer(String bounds) {
        return Grammar.fromJsonSchema("{\"type\": \"integer\", " + bounds + "}");
    }

    @Test
    void boundsOutsideTheLongRangeAreRefused() {
        for (String b : new String[] {"\"minimum\": 46666666666666666666666666666666654", "\"maximum\": -1e30",
                "\"minimum\": 1e999", "\"exclusiveMinimum\": 9223372036854775807", "\"exclusiveMaximum\": -9223372036854775808"}) {
            GrammarException e = assertThrows(GrammarException.class, () -> integer(b), b);
            assertTrue(e.getMessage().contains("64-bit"), e.getMessage());
        }
    }

    @Test
    void oneSidedBoundsOfManyDigitsAreExact() {
        Grammar min = integer("\"minimum\": 1234567891234567891");
        assertTrue(matches(min, "1234567891234567891"));
        assertTrue(matches(min, "9223372036854775807"));
        assertTrue(matches(min, "12345678912345678910"));
        assertFalse(matches(min, "1234567891234567889"));
        assertFalse(matches(min, "999"));
        Grammar max = integer("\"maximum\": -123456789123456789");
        assertTrue(matches(max, "-123456789123456789"));
        assertTrue(matches(max, "-923456789123456789"));
        assertFalse(matches(max, "-123456789123456788"));
        assertFalse(matches(max, "5"));
    }

    @Test
    void boundsAreNotRoundedThroughDoubles() {
        Grammar g = integer("\"minimum\": 9007199254740993, \"maximum\": 9007199254740995");
        assertTrue(matches(g, "9007199254740993"));
        assertFalse(matches(g, "9007199254740992"));
        assertTrue(matches(g, "9007199254740995"));
        assertFalse(matches(g, "9007199254740996"));
    }

    /**
     * Every integer in [-25, 25] and within 3 of each bound and of each power of ten, and their spellings with a leading zero, against plain
     * comparison, for bounds with inner zeros (llama.cpp's construction admits 100 for a minimum of 105 and "-007" for a
     * maximum of -5) and without.
     */
    @Test
    void oneSidedAndTwoSidedBoundsAdmitExactlyTheirIntegers() {
        long[] bounds = {-1005, -1000, -105, -100, -10, -5, 0, 5, 10, 99, 100, 105, 110, 909, 1000, 1005, 1050};
        java.util.TreeSet<Long> values = new java.util.TreeSet<>();
        for (long v = -25; v <= 25; v++) values.add(v);
        for (long b : bounds) for (long d = -3; d <= 3; d++) values.add(b + d);
        for (long p = 10; p <= 100_000; p *= 10) for (long d = -3; d <= 3; d++) { values.add(p + d); values.add(-p - d); }
        for (long b : bounds) {
            check(values, "\"minimum\": " + b, v -> v >= b);
            check(values, "\"maximum\": " + b, v -> v <= b);
        }
        for (long b : new long[] {-106, 99, 1004}) check(values, "\"exclusiveMinimum\": " + b, v -> v > b);
        for (long lo : new long[] {-105, -5, 0, 105}) {
            for (long hi : new long[] {-1, 9, 105, 1005}) {
                if (lo <= hi) check(values, "\"minimum\": " + lo + ", \"maximum\": " + hi, v -> v >= lo && v <= hi);
            }
        }
    }

    private static void check(java.util.Set<Long> values, String bounds, java.util.function.LongPredicate admitted) {
        Grammar g = integer(bounds);
        for (long v : values) {
            String s = Long.toString(v);
            assertEquals(admitted.test(v), matches(g, s), bounds + ": " + s);
            if (v != 0) { // the same number with a leading zero is not JSON
                String padded = v < 0 ? "-0" + s.substring(1) : "0" + s;
                assertFalse(matches(g, padded), bounds + ": " + padded);
            }
        }
        assertFalse(matches(g, "00"), bounds + ": 00");
    }
}
