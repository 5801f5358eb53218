package dev.panamax.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.embed.Pooling;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.tensor.GgmlType;
import dev.panamax.tokenizer.Vocabulary;
import dev.panamax.tools.QuantFileType;
import dev.panamax.tools.Quantizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A BERT-family sentence-transformers ONNX export (e.g. all-MiniLM-L6-v2 as LangChain4j ships it) to a {@code bert}
 * GGUF laid out as llama.cpp's {@code convert_hf_to_gguf.py} writes one from the Hugging Face checkpoint: the same
 * tensor names, shapes and metadata, the WordPiece vocabulary from {@code tokenizer.json} in llama.cpp's "phantom
 * space" form. ONNX names a linear layer's weight anonymously ({@code onnx::MatMul_787}, stored transposed, [in, out]);
 * the graph names it: the {@code MatMul} that reads it feeds an {@code Add} with the layer's named bias. The head count
 * comes from the attention's reshape ({@code [batch, seq, heads, head_dim]}), the norm epsilon from the layer norm's
 * constant.
 */
public final class OnnxBertConverter {
    /** What was written. */
    public record Result(int tensors, int vocab, int layers, int width, int heads, int ffn, int context, float epsilon) {}

    private static final Pattern LAYER = Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "attention.self.query", "attn_q", "attention.self.key", "attn_k", "attention.self.value", "attn_v",
            "attention.output.dense", "attn_output", "attention.output.LayerNorm", "attn_output_norm",
            "intermediate.dense", "ffn_up", "output.dense", "ffn_down", "output.LayerNorm", "layer_output_norm");
    private static final Map<String, String> TOP_NAMES = Map.of(
            "embeddings.word_embeddings", "token_embd", "embeddings.token_type_embeddings", "token_types",
            "embeddings.position_embeddings", "position_embd", "embeddings.LayerNorm", "token_embd_norm");

    private OnnxBertConverter() {}

    /**
     * Converts; {@code type} f32 writes the weights as they are, f16, bf16 and q8_0 pass the F32 file through {@link
     * Quantizer} (llama-quantize's rules: norms, biases and 1-D tensors stay F32).
     *
     * @param tokenizerJson the Hugging Face {@code tokenizer.json} (WordPiece), required
     * @param pooling       written as {@code bert.pooling_type} (sentence-transformers models: mean)
     */
    public static Result convert(Path onnx, Path tokenizerJson, Path out, QuantFileType type, Pooling pooling, String name)
            throws IOException {
        if (type == QuantFileType.F32) return convertF32(onnx, tokenizerJson, out, pooling, name);
        Path tmp = Files.createTempFile(out.toAbsolutePath().getParent(), ".convert-f32-", ".gguf");
        try {
            Result r = convertF32(onnx, tokenizerJson, tmp, pooling, name);
            new Quantizer(type).quantize(tmp, out);
            return r;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static Result convertF32(Path onnx, Path tokenizerJson, Path out, Pooling pooling, String name) throws IOException {
        Vocab vocab = Vocab.read(tokenizerJson);
        try (Arena arena = Arena.ofConfined()) {
            Onnx g = Onnx.read(onnx, arena);
            Map<String, Onnx.Tensor> weights = nameWeights(g);
            Onnx.Tensor tok = require(weights, "embeddings.word_embeddings.weight");
            Onnx.Tensor pos = require(weights, "embeddings.position_embeddings.weight");
            Onnx.Tensor types = require(weights, "embeddings.token_type_embeddings.weight");
            int width = (int) tok.dims()[1];
            if (tok.dims()[0] != vocab.tokens.size()) {
                throw new OnnxFormatException("the model has " + tok.dims()[0] + " token embeddings, tokenizer.json " + vocab.tokens.size() + " tokens");
            }
            int layers = 0;
            while (weights.containsKey("encoder.layer." + layers + ".attention.self.query.weight")) layers++;
            if (layers == 0) throw new OnnxFormatException("no encoder layers (encoder.layer.0.attention.self.query) in the graph: not a BERT export");
            int ffn = (int) require(weights, "encoder.layer.0.intermediate.dense.weight").dims()[1];
            int heads = heads(g, width);
            float eps = epsilon(g);

            GgufWriter w = new GgufWriter()
                    .putString("general.architecture", "bert")
                    .putString("general.type", "model")
                    .putString("general.name", name)
                    .putUInt32("general.file_type", 0)
                    .putUInt32("bert.block_count", layers)
                    .putUInt32("bert.context_length", pos.dims()[0])
                    .putUInt32("bert.embedding_length", width)
                    .putUInt32("bert.feed_forward_length", ffn)
                    .putUInt32("bert.attention.head_count", heads)
                    .putFloat32("bert.attention.layer_norm_epsilon", eps)
                    .putBool("bert.attention.causal", false)
                    .putUInt32("bert.pooling_type", pooling.ggufValue)
                    .putUInt32("tokenizer.ggml.token_type_count", types.dims()[0])
                    .putString("tokenizer.ggml.model", "bert")
                    .putString("tokenizer.ggml.pre", "default")
                    .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens.toArray(new String[0]))
                    .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, vocab.types);
            for (var e : vocab.special.entrySet()) w.putUInt32("tokenizer.ggml." + e.getKey() + "_token_id", e.getValue());
            w.putBool("tokenizer.ggml.add_bos_token", true).putBool("tokenizer.ggml.add_eos_token", true);
            // the normalizer's options as llama.cpp reads them, and (Panamax keys) tokenizer.json's own rules
            w.putBool("tokenizer.ggml.normalizer.lowercase", vocab.lowercase)
                    .putBool("tokenizer.ggml.normalizer.strip_accents", vocab.stripAccents)
                    .putString(Vocabulary.KEY_WORDPIECE_RULES, Vocabulary.WORDPIECE_HUGGING_FACE)
                    .putUInt32(Vocabulary.KEY_WORDPIECE_MAX_CHARS, vocab.maxInputCharsPerWord);

            int written = 0;
            for (var e : weights.entrySet()) {
                String gguf = ggufName(e.getKey());
                if (gguf == null) continue;
                Onnx.Tensor t = e.getValue();
                boolean linear = e.getKey().startsWith("encoder.") && e.getKey().endsWith(".weight") && t.dims().length == 2;
                w.addTensor(gguf, GgmlType.F32, shape(t, linear), floats(t, linear, arena));
                written++;
            }
            w.write(out);
            return new Result(written, vocab.tokens.size(), layers, width, heads, ffn, (int) pos.dims()[0], eps);
        }
    }

    /** The initializers under their Hugging Face names: anonymous MatMul weights named after the bias they are added to. */
    static Map<String, Onnx.Tensor> nameWeights(Onnx g) {
        Map<String, Onnx.Node> consumerAdd = new HashMap<>();
        for (Onnx.Node n : g.nodes()) if (n.opType().equals("Add")) for (String in : n.inputs()) consumerAdd.put(in, n);
        Map<String, Onnx.Tensor> out = new LinkedHashMap<>();
        for (var e : g.initializers().entrySet()) {
            String n = strip(e.getKey());
            if (n.endsWith(".weight") || n.endsWith(".bias")) out.put(n, e.getValue());
        }
        for (Onnx.Node n : g.nodes()) {
            if (!n.opType().equals("MatMul") || n.inputs().size() != 2) continue;
            Onnx.Tensor wt = g.initializers().get(n.inputs().get(1));
            if (wt == null || strip(wt.name()).endsWith(".weight")) continue;
            Onnx.Node add = consumerAdd.get(n.outputs().get(0));
            String bias = add == null ? null : add.inputs().stream().filter(i -> g.initializers().containsKey(i) && strip(i).endsWith(".bias"))
                    .findFirst().orElse(null);
            if (bias == null) throw new OnnxFormatException("MatMul weight " + wt.name() + " is not followed by an Add of a named bias: cannot name it");
            String named = strip(bias).substring(0, strip(bias).length() - ".bias".length()) + ".weight";
            if (out.put(named, wt) != null) throw new OnnxFormatException("two weights for " + named);
        }
        return out;
    }

    private static String strip(String n) {
        n = n.startsWith("bert.") ? n.substring(5) : n;
        if (n.endsWith(".gamma")) n = n.substring(0, n.length() - 6) + ".weight";
        if (n.endsWith(".beta")) n = n.substring(0, n.length() - 5) + ".bias";
        return n;
    }

    /** llama.cpp's name for a Hugging Face BERT tensor; null for what it leaves out (the pooler, MLM heads). */
    static String ggufName(String hf) {
        int dot = hf.lastIndexOf('.');
        String base = hf.substring(0, dot), suffix = hf.substring(dot);
        String top = TOP_NAMES.get(base);
        if (top != null) return top + suffix;
        Matcher m = LAYER.matcher(base);
        if (m.matches()) {
            String l = LAYER_NAMES.get(m.group(2));
            if (l == null) throw new OnnxFormatException("unknown layer tensor " + hf);
            return "blk." + m.group(1) + "." + l + suffix;
        }
        if (base.startsWith("pooler.") || base.startsWith("cls.")) return null;
        throw new OnnxFormatException("unknown tensor " + hf + " (not a plain BERT encoder)");
    }

    private static Onnx.Tensor require(Map<String, Onnx.Tensor> w, String name) {
        Onnx.Tensor t = w.get(name);
        if (t == null) throw new OnnxFormatException("no " + name + " in the graph: not a BERT export");
        return t;
    }

    /** GGUF dims (fastest first): an ONNX [rows, cols] matrix is {cols, rows}; a linear weight [in, out] is {in, out} once transposed. */
    private static long[] shape(Onnx.Tensor t, boolean linear) {
        long[] d = t.dims();
        if (d.length == 1) return new long[] {d[0]};
        if (d.length != 2) throw new OnnxFormatException(t.name() + ": " + d.length + "-D weight");
        return linear ? new long[] {d[0], d[1]} : new long[] {d[1], d[0]};
    }

    private static MemorySegment floats(Onnx.Tensor t, boolean transpose, Arena arena) {
        float[] v = t.floats();
        MemorySegment s = arena.allocate(4L * v.length, 64);
        if (!transpose) {
            MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
            return s;
        }
        int in = (int) t.dims()[0], out = (int) t.dims()[1];
        for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) s.setAtIndex(ValueLayout.JAVA_FLOAT, (long) o * in + i, v[i * out + o]);
        return s;
    }

    /** Heads from the query's reshape to [batch, seq, heads, head_dim]: its last two constants, heads * head_dim = width. */
    static int heads(Onnx g, int width) {
        Map<String, Onnx.Node> producer = new HashMap<>();
        for (Onnx.Node n : g.nodes()) for (String o : n.outputs()) producer.put(o, n);
        for (Onnx.Node n : g.nodes()) {
            if (!n.opType().equals("Reshape") || n.inputs().size() != 2) continue;
            Onnx.Node from = producer.get(n.inputs().get(0));
            if (from == null || !from.opType().equals("Add") || from.inputs().stream().noneMatch(i -> strip(i).equals("encoder.layer.0.attention.self.query.bias"))) continue;
            List<Long> shape = new ArrayList<>();
            Onnx.Node s = producer.get(n.inputs().get(1));
            Onnx.Tensor init = g.initializers().get(n.inputs().get(1));
            if (init != null) for (long x : init.longs()) shape.add(x);
            else if (s != null && s.opType().equals("Constant")) for (long x : s.tensorAttributes().get("value").longs()) shape.add(x);
            else if (s != null && s.opType().equals("Concat")) {
                for (String in : s.inputs()) {
                    Onnx.Node c = producer.get(in);
                    Onnx.Tensor ci = g.initializers().get(in);
                    long[] v = ci != null ? ci.longs() : c != null && c.opType().equals("Constant") ? c.tensorAttributes().get("value").longs() : new long[] {-1};
                    for (long x : v) shape.add(x);
                }
            }
            if (shape.size() == 4 && shape.get(2) > 0 && shape.get(2) * shape.get(3) == width) return (int) (long) shape.get(2);
        }
        throw new OnnxFormatException("cannot find the head count: no reshape of layer 0's query to [batch, seq, heads, " + "head_dim]");
    }

    /** The epsilon of the first layer norm (a LayerNormalization's attribute, or the constant added before its Sqrt). */
    static float epsilon(Onnx g) {
        Map<String, Onnx.Node> producer = new HashMap<>();
        for (Onnx.Node n : g.nodes()) for (String o : n.outputs()) producer.put(o, n);
        for (Onnx.Node n : g.nodes()) {
            if (!n.opType().equals("Sqrt")) continue;
            Onnx.Node add = producer.get(n.inputs().get(0));
            if (add == null || !add.opType().equals("Add")) continue;
            for (String in : add.inputs()) {
                Onnx.Node c = producer.get(in);
                Onnx.Tensor t = c != null && c.opType().equals("Constant") ? c.tensorAttributes().get("value") : g.initializers().get(in);
                if (t != null && t.elements() == 1 && t.dataType() == Onnx.FLOAT) return t.floats()[0];
            }
        }
        throw new OnnxFormatException("cannot find the layer norm epsilon (an Add of a constant before a Sqrt)");
    }

    /**
     * tokenizer.json's WordPiece vocabulary as llama.cpp's converter writes it, and the options of its BertNormalizer
     * and WordPiece model (a tokenizer.json with another normalizer or pre-tokenizer is refused: Panamax implements
     * those two).
     */
    record Vocab(List<String> tokens, int[] types, Map<String, Integer> special, boolean lowercase, boolean stripAccents,
                 int maxInputCharsPerWord) {
        static final int NORMAL = 1, CONTROL = 3;

        static Vocab read(Path file) throws IOException {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            JsonNode model = root.path("model");
            if (!"WordPiece".equals(model.path("type").asText())) {
                throw new OnnxFormatException(file + ": tokenizer model " + model.path("type").asText() + ", expected WordPiece");
            }
            JsonNode v = model.path("vocab");
            String[] byId = new String[v.size()];
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                var e = it.next();
                int id = e.getValue().asInt(-1);
                if (id < 0 || id >= byId.length || byId[id] != null) throw new OnnxFormatException(file + ": bad or repeated id " + id);
                byId[id] = e.getKey();
            }
            Set<Integer> control = new HashSet<>();
            Map<String, Integer> idOf = new HashMap<>();
            for (JsonNode a : root.path("added_tokens")) {
                if (a.path("special").asBoolean(false)) control.add(a.path("id").asInt());
                idOf.put(a.path("content").asText(), a.path("id").asInt());
            }
            List<String> tokens = new ArrayList<>(byId.length);
            int[] types = new int[byId.length];
            for (int i = 0; i < byId.length; i++) {
                if (byId[i] == null) throw new OnnxFormatException(file + ": no token with id " + i);
                String t = byId[i];
                types[i] = control.contains(i) ? CONTROL : NORMAL;
                tokens.add(types[i] == CONTROL ? t : t.startsWith("##") ? t.substring(2) : "\u2581" + t);
            }
            Map<String, Integer> special = new LinkedHashMap<>();
            String unk = model.path("unk_token").asText("[UNK]");
            put(special, "bos", idOf, "[CLS]");
            put(special, "eos", idOf, "[SEP]");
            put(special, "unknown", idOf, unk);
            put(special, "seperator", idOf, "[SEP]");
            put(special, "padding", idOf, "[PAD]");
            put(special, "cls", idOf, "[CLS]");
            put(special, "mask", idOf, "[MASK]");
            if (!special.containsKey("bos") || !special.containsKey("seperator")) {
                throw new OnnxFormatException(file + ": no [CLS] or [SEP] special token: not a BERT WordPiece tokenizer");
            }
            JsonNode norm = root.path("normalizer");
            if (!"BertNormalizer".equals(norm.path("type").asText()) || !norm.path("clean_text").asBoolean(true)
                    || !norm.path("handle_chinese_chars").asBoolean(true)) {
                throw new OnnxFormatException(file + ": normalizer " + norm + ", expected BertNormalizer with clean_text and handle_chinese_chars");
            }
            if (!"BertPreTokenizer".equals(root.path("pre_tokenizer").path("type").asText())) {
                throw new OnnxFormatException(file + ": pre_tokenizer " + root.path("pre_tokenizer") + ", expected BertPreTokenizer");
            }
            if (!"##".equals(model.path("continuing_subword_prefix").asText("##"))) {
                throw new OnnxFormatException(file + ": continuing_subword_prefix " + model.path("continuing_subword_prefix") + ", expected ##");
            }
            boolean lowercase = norm.path("lowercase").asBoolean(true);
            JsonNode strip = norm.path("strip_accents");
            boolean stripAccents = strip.isBoolean() ? strip.asBoolean() : lowercase; // null: as lowercase
            int maxChars = model.path("max_input_chars_per_word").asInt(100);
            if (maxChars <= 0) throw new OnnxFormatException(file + ": max_input_chars_per_word " + maxChars);
            return new Vocab(tokens, types, special, lowercase, stripAccents, maxChars);
        }

        private static void put(Map<String, Integer> special, String key, Map<String, Integer> idOf, String token) {
            Integer id = idOf.get(token);
            if (id != null) special.put(key, id);
        }
    }
}
