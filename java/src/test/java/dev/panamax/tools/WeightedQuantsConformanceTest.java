package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.tensor.GgmlType;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The importance-matrix quantizers against ggml's own ({@code ggml_quantize_chunk(.., imatrix)} of the toolkit's
 * libggml-base, through a 20-line C driver compiled here, wq.c): the same bytes for the same rows and weights. Runs when
 * the toolkit's headers and library and a C compiler are present.
 */
class WeightedQuantsConformanceTest {
    static final Path LIB = Toolkit.REF.resolve("npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64");
    static final Path INC = Toolkit.REF.resolve("src/ggml/include");

    @TempDir
    static Path dir;
    static Path driver;

    @BeforeAll
    static void build() throws Exception {
        Assumptions.assumeTrue(Files.isRegularFile(LIB.resolve("libggml-base.so")) && Files.isDirectory(INC),
                "llama.cpp reference toolkit (libggml-base.so, ggml.h) not found under " + Toolkit.REF);
        Path src = dir.resolve("wq.c");
        try (InputStream in = WeightedQuantsConformanceTest.class.getResourceAsStream("wq.c")) {
            Files.write(src, in.readAllBytes());
        }
        driver = dir.resolve("wq");
        Process p = new ProcessBuilder("gcc", "-O2", "-o", driver.toString(), src.toString(), "-I" + INC, "-L" + LIB,
                "-l:libggml-base.so", "-Wl,-rpath," + LIB).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        Assumptions.assumeTrue(p.waitFor() == 0, "cannot compile the ggml driver (gcc?): " + out);
    }

    @ParameterizedTest
    @EnumSource(names = {"Q4_0", "Q5_0", "Q4_1", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"})
    void sameBytesAsGgml(GgmlType type) throws Exception {
        int rows = 24, cols = 512;
        Random r = new Random(type.ordinal());
        float[] x = new float[rows * cols], im = new float[cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * (i % 97 == 0 ? 8 : 1) + (i % 5 == 0 ? 0.3 : 0));
        for (int i = 0; i < 32; i++) x[3 * cols + i] = 0; // a zero block
        for (int j = 0; j < cols; j++) im[j] = (float) Math.exp(r.nextGaussian() * 2);
        Path xs = dir.resolve("x.f32"), ims = dir.resolve("im.f32"), ref = dir.resolve("ref.bin");
        Files.write(xs, bytes(x));
        Files.write(ims, bytes(im));
        Process p = new ProcessBuilder(driver.toString(), "" + type.id(), "" + rows, "" + cols, xs.toString(), ims.toString(),
                ref.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        byte[] expect = Files.readAllBytes(ref);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment src = a.allocate(4L * x.length, 64);
            MemorySegment.copy(x, 0, src, ValueLayout.JAVA_FLOAT, 0, x.length);
            MemorySegment dst = a.allocate(type.rowBytes(cols) * rows, 64);
            WeightedQuants.quantize(type, dst, src, rows, cols, im, 0);
            byte[] got = dst.toArray(ValueLayout.JAVA_BYTE);
            assertEquals(expect.length, got.length);
            for (int i = 0; i < got.length; i++) {
                if (got[i] != expect[i]) throw new AssertionError(type + ": first differs at byte " + i + " (block " + i / type.blockBytes() + ")");
            }
        }
        assertTrue(WeightedQuants.usesImatrix(type));
    }

    static byte[] bytes(float[] f) {
        ByteBuffer b = ByteBuffer.allocate(4 * f.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(f);
        return b.array();
    }
}
