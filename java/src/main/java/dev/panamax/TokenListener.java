package dev.panamax;

/** Receives generated tokens as they are produced, on the generating thread. */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param token the token id
     * @param text  the text that is now complete (may be empty while a UTF-8 character spans several tokens)
     */
    void onToken(int token, String text);
}
