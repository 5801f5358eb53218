package dev.panamax.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * One turn of a conversation as chat templates see it: {@code {"role", "content"}}, plus for an assistant turn the
 * tool calls it made ({@code tool_calls}) and for a {@code tool} turn the call it answers ({@code tool_call_id}) and
 * the tool's name ({@code name}; null when not given).
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null, null);
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** An assistant turn that called tools (content may be empty). */
    public static ChatMessage assistant(String content, List<ToolCall> calls) {
        return new ChatMessage("assistant", content, calls, null, null);
    }

    /** A tool's result, answering the call with this id. */
    public static ChatMessage tool(String toolCallId, String name, String content) {
        return new ChatMessage("tool", content, List.of(), toolCallId, name);
    }

    /** This message with other content (the rest kept). */
    public ChatMessage withContent(String text) {
        return new ChatMessage(role, text, toolCalls, toolCallId, name);
    }
}
