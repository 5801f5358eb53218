package dev.panamax.grammar;

/**
 * A grammar or JSON schema that cannot be used: a GBNF syntax error (with the 1-based line and column where the
 * parser stopped), an undefined rule, left recursion, a missing root rule, or a schema keyword the converter does not
 * support. The message is one line.
 */
public final class GrammarException extends IllegalArgumentException {

    /** Why a grammar was refused, where a caller acts on it (the JSON schema converter parsing its own output). */
    enum Reason {
        /** Syntax, undefined rules, a missing root, an unsupported schema keyword. */
        OTHER,
        /** A rule that can reach itself before consuming input. */
        LEFT_RECURSION,
        /** Over one of the parser's size limits (repetition counts, rules they expand to, group nesting). */
        SIZE_LIMIT
    }

    private final int line, column;
    private final Reason reason;

    public GrammarException(String message) {
        this(message, 0, 0, Reason.OTHER);
    }

    GrammarException(String message, Reason reason) {
        this(message, 0, 0, reason);
    }

    GrammarException(String message, int line, int column, Reason reason) {
        super(line > 0 ? "line " + line + ", column " + column + ": " + message : message);
        this.line = line;
        this.column = column;
        this.reason = reason;
    }

    Reason reason() {
        return reason;
    }

    /** 1-based line of the error in the grammar text, 0 when the error has no position. */
    public int line() {
        return line;
    }

    /** 1-based column (in characters) of the error, 0 when the error has no position. */
    public int column() {
        return column;
    }
}
