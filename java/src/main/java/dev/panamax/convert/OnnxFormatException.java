package dev.panamax.convert;

/** An ONNX file this converter cannot read or does not understand, with where and why. */
public class OnnxFormatException extends RuntimeException {
    public OnnxFormatException(String message) {
        super(message);
    }
}
