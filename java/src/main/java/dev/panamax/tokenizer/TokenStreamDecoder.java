package dev.panamax.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns generated tokens into text as they arrive, holding back the bytes of a UTF-8 sequence that the next tokens
 * complete (a character split across byte tokens or byte-level BPE tokens). Pieces are {@link
 * Tokenizer#tokenBytes}: the text of llama.cpp's {@code llama_token_to_piece(special=false)}, leading spaces
 * kept. Not thread-safe: one per stream.
 */
public final class TokenStreamDecoder {

    private final Tokenizer tokenizer;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    private final int[] preserved; // sorted ids whose vocabulary text is output (control tokens that must show)

    public TokenStreamDecoder(Tokenizer tokenizer) {
        this(tokenizer, new int[0]);
    }

    /** A decoder that writes these tokens as their vocabulary text (llama.cpp's preserved tokens), not as nothing. */
    public TokenStreamDecoder(Tokenizer tokenizer, int[] preservedTokens) {
        this.tokenizer = java.util.Objects.requireNonNull(tokenizer, "tokenizer");
        this.preserved = preservedTokens.clone();
        java.util.Arrays.sort(preserved);
    }

    /** Adds a token; returns the text that is now complete (possibly empty). */
    public String push(int id) {
        if (preserved.length > 0 && java.util.Arrays.binarySearch(preserved, id) >= 0) {
            pending.writeBytes(tokenizer.tokenString(id).getBytes(StandardCharsets.UTF_8));
        } else {
            pending.writeBytes(tokenizer.tokenBytes(id));
        }
        byte[] b = pending.toByteArray();
        int complete = completePrefix(b);
        pending.reset();
        pending.write(b, complete, b.length - complete);
        return new String(b, 0, complete, StandardCharsets.UTF_8);
    }

    /** Ends the stream: whatever is held back, with U+FFFD for an unfinished sequence. */
    public String flush() {
        byte[] b = pending.toByteArray();
        pending.reset();
        return new String(b, StandardCharsets.UTF_8);
    }

    /**
     * The length of the longest prefix that does not end inside a UTF-8 sequence that may still complete. Invalid
     * bytes are not held back (they can never complete); they decode to U+FFFD.
     */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // look back at most 3 bytes for the lead byte of a sequence that runs past the end
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xFF;
            if ((c & 0xC0) == 0x80) {
                continue; // continuation byte: keep looking for its lead
            }
            int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
            if (c >= 0xF5) {
                need = 1;
            }
            return need > back ? n - back : n;
        }
        return n;
    }
}
