package dev.panamax.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.lang.foreign.MemorySegment;

/**
 * Coverage-guided fuzz target for the GGUF reader (Jazzer). In a normal test run it replays the committed inputs in
 * {@code src/test/resources/dev/panamax/gguf/GgufFuzzTestInputs/parse/} (seeds and every crash found so far);
 * {@code scripts/fuzz.sh gguf [minutes]} fuzzes it. Any outcome but a parse or a {@link GgufFormatException} is a
 * finding; whatever parses must be usable to the last byte of every tensor and array.
 */
class GgufFuzzTest {

    @FuzzTest(maxDuration = "10m")
    void parse(byte[] data) {
        try (GgufFile f = GgufFile.parse(MemorySegment.ofArray(data))) {
            GgufHostileInputTest.touchEverything(f);
        } catch (GgufFormatException expected) {
            // a clear rejection
        }
    }
}
