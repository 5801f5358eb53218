package dev.panamax.grammar;

/**
 * A grammar or JSON schema that cannot be used: a GBNF syntax error (with the 1-based line and column where the
 * parser stopped), an undefined rule, left recursion, a missing root rule, or a schema keyword the converter does not
 * support. The message is one line.
 */
public final class GrammarException extends IllegalArgumentException {

    private final int line, column;

    public GrammarException(String message) {
        this(message, 0, 0);
    }

    GrammarException(String message, int line, int column) {
        super(line > 0 ? "line " + line + ", column " + column + ": " + message : message);
        this.line = line;
        this.column = column;
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
