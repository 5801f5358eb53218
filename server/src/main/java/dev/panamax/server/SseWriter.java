package dev.panamax.server;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamax.server.ApiHandler.ClientGoneException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;

/**
 * The body of a server-sent-events response. Events are appended to a buffer and go out in one write at {@link #flush}
 * — which the stream calls whenever its request's event queue is momentarily empty — so a stream that keeps up sends
 * each event as soon as it exists, and one that fell behind (several tokens queued while its virtual thread waited
 * for a core) catches up in one write instead of one per token. A failed write means the client went away.
 */
final class SseWriter {
    private final Response response;
    private byte[] buf = new byte[2048];
    private int len;
    private boolean closed;

    SseWriter(Response response) {
        this.response = response;
    }

    /** Appends {@code data: JSON} and the blank line that ends the event. */
    void event(ObjectNode json) {
        data(json.toString());
    }

    /** Appends {@code data: TEXT} and the blank line that ends the event. */
    void data(String text) {
        append(("data: " + text + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    /** Sends what was appended. */
    void flush() throws ClientGoneException {
        write(false);
    }

    /** Sends what was appended and ends the response. */
    void close() throws ClientGoneException {
        if (!closed) write(true);
    }

    /** What was appended and not yet sent (for tests). */
    byte[] pending() {
        return Arrays.copyOf(buf, len);
    }

    private void write(boolean last) throws ClientGoneException {
        if (len == 0 && !last) return;
        closed |= last;
        try (Blocker.Callback cb = Blocker.callback()) {
            response.write(last, ByteBuffer.wrap(buf, 0, len), cb);
            cb.block();
        } catch (IOException | RuntimeException e) {
            throw new ClientGoneException(e);
        } finally {
            len = 0; // written or lost with the connection: never sent twice
        }
    }

    private void append(byte[] b) {
        append(b, 0, b.length);
    }

    private void append(byte[] b, int off, int n) {
        if (len + n > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
        System.arraycopy(b, off, buf, len, n);
        len += n;
    }

    private void append(byte b) {
        if (len == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
        buf[len++] = b;
    }

    /**
     * The event that carries one piece of text — a stream's commonest, one per token — written without building a
     * JSON tree: the chunk is rendered once with a marker where the text goes, and every piece is spliced in as a
     * JSON string between the marker's two sides, so its shape is the tree's by construction.
     */
    static final class TextEvent {
        private static final String MARK = "\u0001panamax\u0001";
        private final byte[] head, tail;

        /**
         * @param chunk the event with {@code MARK} as its text, built by {@code withText}
         */
        private TextEvent(String chunk) {
            String quoted = "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(MARK)) + "\"";
            int at = chunk.indexOf(quoted);
            if (at < 0 || chunk.indexOf(quoted, at + 1) >= 0) throw new IllegalStateException("text marker not found once in " + chunk);
            head = ("data: " + chunk.substring(0, at)).getBytes(StandardCharsets.UTF_8);
            tail = (chunk.substring(at + quoted.length()) + "\n\n").getBytes(StandardCharsets.UTF_8);
        }

        /** The template of events that {@code withText} builds around a text. */
        static TextEvent of(java.util.function.Function<String, ObjectNode> withText) {
            return new TextEvent(withText.apply(MARK).toString());
        }

        /** Appends the event carrying {@code text}. */
        void append(SseWriter out, String text) {
            out.append(head);
            out.append((byte) '"');
            byte[] s = JsonStringEncoder.getInstance().quoteAsUTF8(text);
            out.append(s, 0, s.length);
            out.append((byte) '"');
            out.append(tail);
        }
    }
}
