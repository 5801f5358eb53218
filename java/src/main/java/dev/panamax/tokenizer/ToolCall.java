package dev.panamax.tokenizer;

import java.util.Objects;

/**
 * A function call the model asked for, as OpenAI's API carries it: an id the tool's result refers back to, the
 * function's name and its arguments as JSON text.
 */
public record ToolCall(String id, String name, String arguments) {
    public ToolCall {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(arguments, "arguments");
    }
}
