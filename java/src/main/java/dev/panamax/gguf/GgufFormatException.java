package dev.panamax.gguf;

import java.io.IOException;

/**
 * A GGUF file is malformed or uses something Panamax cannot read. The message names the problem and where it
 * is: the metadata key or tensor name, and the byte offset in the file.
 */
public class GgufFormatException extends IOException {

    public GgufFormatException(String message) {
        super(message);
    }

    public GgufFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
