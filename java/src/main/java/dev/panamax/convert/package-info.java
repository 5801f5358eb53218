/**
 * Converters from other model formats to GGUF: {@link dev.panamax.convert.OnnxBertConverter} turns a BERT-family
 * sentence-transformers ONNX export and its {@code tokenizer.json} into the {@code bert} GGUF llama.cpp's own converter
 * would write from the original checkpoint. Contract: {@link dev.panamax.convert.Onnx} reads only what it needs of the
 * protobuf (nodes, initializers) and checks every length against its message; what the converter does not understand
 * (other operators around the weights, external data, an unknown tensor) is an {@link
 * dev.panamax.convert.OnnxFormatException} naming it, never a guessed file. Nothing here runs during inference.
 */
package dev.panamax.convert;
