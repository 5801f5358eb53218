package dev.panamax.tokenizer;

/**
 * A chat template that cannot be parsed or rendered, or that refused the conversation ({@code raise_exception} in the
 * template): the message names the problem and, where the engine knows it, the template line.
 */
public class ChatTemplateException extends IllegalArgumentException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
