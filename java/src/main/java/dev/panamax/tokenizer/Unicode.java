package dev.panamax.tokenizer;

/**
 * Code point classes as llama.cpp's unicode.cpp defines them ({@code unicode_cpt_flags}): one general-category
 * group per code point plus the White_Space property, taken here from the JDK's Unicode tables (llama.cpp
 * generates its tables from the same UnicodeData.txt, so only code points assigned in a newer Unicode version can
 * differ).
 */
final class Unicode {
    static final int UNDEFINED = 0x0001;
    static final int NUMBER = 0x0002;
    static final int LETTER = 0x0004;
    static final int SEPARATOR = 0x0008;
    static final int ACCENT_MARK = 0x0010;
    static final int PUNCTUATION = 0x0020;
    static final int SYMBOL = 0x0040;
    static final int CONTROL = 0x0080;
    static final int WHITESPACE = 0x0100;

    private static final byte[] BMP_CATEGORY = new byte[0x10000];

    static {
        for (int c = 0; c < 0x10000; c++) {
            BMP_CATEGORY[c] = (byte) categoryOf(c);
        }
    }

    private Unicode() {}

    /** The category flag (one of NUMBER..CONTROL, or UNDEFINED) of a code point. */
    static int category(int cpt) {
        if (cpt < 0 || cpt > Character.MAX_CODE_POINT) {
            return UNDEFINED;
        }
        return cpt < 0x10000 ? BMP_CATEGORY[cpt] & 0xFF : categoryOf(cpt);
    }

    /** Category flag plus WHITESPACE, like {@code unicode_cpt_flags_from_cpt(cpt).as_uint()} (never 0). */
    static int flags(int cpt) {
        int f = category(cpt);
        return isWhitespace(cpt) ? f | WHITESPACE : f;
    }

    /** The Unicode White_Space property (PropList.txt), the set llama.cpp hard-codes. */
    static boolean isWhitespace(int c) {
        return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    static int toLower(int cpt) {
        return cpt < 0 ? cpt : Character.toLowerCase(cpt);
    }

    private static int categoryOf(int c) {
        return switch (Character.getType(c)) {
            case Character.UNASSIGNED -> UNDEFINED;
            case Character.CONTROL, Character.FORMAT, Character.PRIVATE_USE, Character.SURROGATE -> CONTROL;
            case Character.LOWERCASE_LETTER, Character.MODIFIER_LETTER, Character.OTHER_LETTER,
                 Character.TITLECASE_LETTER, Character.UPPERCASE_LETTER -> LETTER;
            case Character.COMBINING_SPACING_MARK, Character.ENCLOSING_MARK, Character.NON_SPACING_MARK -> ACCENT_MARK;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.END_PUNCTUATION,
                 Character.FINAL_QUOTE_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION, Character.START_PUNCTUATION -> PUNCTUATION;
            case Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL, Character.MATH_SYMBOL,
                 Character.OTHER_SYMBOL -> SYMBOL;
            case Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> SEPARATOR;
            default -> UNDEFINED;
        };
    }
}
