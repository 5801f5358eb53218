package dev.panamax;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.model.LlamaWeights;
import dev.panamax.model.TransformerWeights;
import dev.panamax.spec.Speculation;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A draft model stored in floats is quantized to Q8_0 as the engine loads it ({@link Engine.Config#quantizeDraft}). */
class DraftQuantizationTest {

    static final Path TARGET = Path.of("../models/kjv-llama-4.6m-f16.gguf"), DRAFT = Path.of("../models/kjv-llama-draft-0.9m-kd-f16.gguf");

    static TransformerWeights<?> draftWeights(Engine e) {
        return (TransformerWeights<?>) e.draftModel().weights();
    }

    @Test
    void aFloatDraftIsQ8AtLoadUnlessTurnedOff() throws Exception {
        try (Model model = Model.load(TARGET, Model.Options.defaults().withThreads(1))) {
            Engine.Config c = Engine.Config.defaults().withMaxSequences(1).withSpeculation(Speculation.draft(DRAFT, 2));
            try (Engine q = model.newEngine(c); Engine f = model.newEngine(c.withDraftQuantization(false))) {
                TransformerWeights<?> qw = draftWeights(q), fw = draftWeights(f);
                assertEquals(GgmlType.Q8_0, qw.output.type());
                assertEquals(GgmlType.F16, fw.output.type());
                assertEquals(GgmlType.Q8_0, ((LlamaWeights) qw).layers[0].wq().type());
                assertEquals(GgmlType.F16, ((LlamaWeights) fw).layers[0].wq().type());
            }
        }
    }

    @Test
    void aQuantizedDraftIsLoadedAsItIs() throws Exception {
        Path q8 = Files.createTempFile("panamax-test-draft-", ".gguf");
        try {
            Path copy = Engine.quantizedDraft(DRAFT, 1);
            assertNotNull(copy, "the F16 draft is quantized");
            Files.move(copy, q8, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertNull(Engine.quantizedDraft(q8, 1), "a Q8_0 file is not quantized again");
        } finally {
            Files.deleteIfExists(q8);
        }
    }
}
