package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamax.Model;
import dev.panamax.embed.Embedder;
import dev.panamax.embed.Embedding;
import dev.panamax.embed.Pooling;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code panamax embed}: embeddings (or reranker scores) of texts as llama.cpp computes them: tokens with special tokens
 * added and parsed, pooling from the file or {@code --pooling}, unit Euclidean length. For a reranker a line is
 * {@code QUERY<TAB>DOCUMENT}.
 */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Embeddings of texts (one per line of -f), or reranker scores of QUERY<TAB>DOCUMENT lines.")
final class EmbedCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    static final class Input {
        @Option(names = {"-p", "--prompt"}, description = "One text.")
        String prompt;

        @Option(names = {"-f", "--file"}, description = "A text per line (empty lines skipped).")
        Path file;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--pooling", description = "none, mean, cls, last or rank (default: the file's pooling_type).")
    String pooling;

    @Option(names = "--no-normalize", description = "Raw pooled vectors (default: unit Euclidean length, as llama.cpp).")
    boolean noNormalize;

    @Option(names = "--json", description = "One JSON object per text: {\"tokens\":[...],\"embedding\":[...]} "
            + "(pooling none: one array per token; a reranker: \"score\").")
    boolean json;

    @Option(names = {"-o", "--output"}, description = "Also write float32 little-endian rows [texts][n] (pooling none: "
            + "[all tokens][n_embd]), as the toolkit's llembed -o.")
    Path output;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        List<String> texts = new ArrayList<>();
        if (input.prompt != null) {
            texts.add(input.prompt);
        } else {
            for (String line : Files.readAllLines(input.file, StandardCharsets.UTF_8)) {
                String l = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
                if (!l.isEmpty()) texts.add(l);
            }
        }
        if (texts.isEmpty()) throw new IllegalArgumentException("no text to embed");
        try (Model m = mo.load()) {
            Embedder e = m.embedder();
            Pooling p = pooling == null ? m.pooling() : Pooling.parse(pooling);
            List<int[]> toks = new ArrayList<>(texts.size());
            for (String t : texts) {
                int tab = p == Pooling.RANK ? t.indexOf('\t') : -1;
                toks.add(tab >= 0 ? e.pairTokens(t.substring(0, tab), t.substring(tab + 1)) : e.tokenize(t));
            }
            long t0 = System.nanoTime();
            List<Embedding> out = e.embedTokens(toks, p, !noNormalize && p != Pooling.RANK);
            double ms = (System.nanoTime() - t0) / 1e6;
            print(out, p);
            if (output != null) write(out);
            spec.commandLine().getErr().printf(Locale.ROOT, "%d texts, %d tokens, pooling %s, %.1f ms%n", out.size(),
                    toks.stream().mapToInt(a -> a.length).sum(), p, ms);
        }
        return 0;
    }

    private void print(List<Embedding> out, Pooling p) throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < out.size(); i++) {
            Embedding e = out.get(i);
            if (this.json) {
                ObjectNode o = json.createObjectNode();
                ArrayNode t = o.putArray("tokens");
                for (int id : e.tokens()) t.add(id);
                if (p == Pooling.RANK) {
                    o.put("score", e.score());
                } else if (p == Pooling.NONE) {
                    ArrayNode rows = o.putArray("embedding");
                    for (float[] r : e.rows()) {
                        ArrayNode a = rows.addArray();
                        for (float v : r) a.add(v);
                    }
                } else {
                    ArrayNode a = o.putArray("embedding");
                    for (float v : e.vector()) a.add(v);
                }
                w.println(json.writeValueAsString(o));
            } else {
                StringBuilder sb = new StringBuilder();
                sb.append("text ").append(i).append(" tokens (").append(e.tokens().length).append("):");
                for (int id : e.tokens()) sb.append(' ').append(id);
                w.println(sb);
                float[] v = e.rows()[0];
                if (p == Pooling.RANK) {
                    w.printf(Locale.ROOT, "  score: %.6f%n", v[0]);
                } else {
                    StringBuilder r = new StringBuilder(" ");
                    for (int d = 0; d < Math.min(8, v.length); d++) r.append(String.format(Locale.ROOT, " %.6f", v[d]));
                    w.println(r.append(v.length > 8 ? " ... (" + v.length + ")" : "").append(e.rows().length > 1 ? " [token 0 of " + e.rows().length + "]" : ""));
                }
            }
        }
        w.flush();
    }

    private void write(List<Embedding> out) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (Embedding e : out) {
            for (float[] r : e.rows()) {
                ByteBuffer b = ByteBuffer.allocate(4 * r.length).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(r);
                bytes.write(b.array());
            }
        }
        Files.write(output, bytes.toByteArray());
    }
}
