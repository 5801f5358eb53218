package dev.panamax.cli;

import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The output constraint of {@code generate}: a GBNF file, a JSON Schema file, or any JSON object (one of them). */
final class GrammarOptions {
    @Option(names = "--grammar-file", paramLabel = "F.gbnf", description = "Constrain the output to this GBNF grammar (llama.cpp's format, root rule 'root').")
    Path grammarFile;

    @Option(names = "--json-schema", paramLabel = "S.json", description = "Constrain the output to JSON valid against this JSON Schema file.")
    Path jsonSchema;

    @Option(names = "--json-object", description = "Constrain the output to a JSON object.")
    boolean jsonObject;

    /** The grammar, or an exception whose one-line message names the file and the position. */
    Grammar grammar() throws IOException {
        try {
            if (grammarFile != null) return Grammar.parse(Files.readString(grammarFile));
            if (jsonSchema != null) return Grammar.fromJsonSchema(Files.readString(jsonSchema));
            return jsonObject ? Grammar.jsonObject() : null;
        } catch (GrammarException e) {
            Path f = grammarFile != null ? grammarFile : jsonSchema;
            throw new IllegalArgumentException((f != null ? f + ": " : "") + e.getMessage(), e);
        }
    }
}
