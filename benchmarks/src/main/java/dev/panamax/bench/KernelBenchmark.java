package dev.panamax.bench;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.NativeKernels;
import dev.panamax.kernels.ScalarKernels;
import dev.panamax.kernels.VectorKernels;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A benchmark of one {@link Kernels} operation: the implementation under test by name, and an arena for its inputs,
 * both made once per trial ({@link #fill} then writes the inputs) and closed after it.
 */
public abstract class KernelBenchmark extends PanamaxBenchmark {

    Arena arena;
    Kernels kernels;

    /** The implementation under test, as the benchmark's {@code impl} parameter names it: see {@link #kernelsNamed}. */
    abstract String impl();

    /** Threads of a plain {@code native} implementation. */
    int nativeThreads() {
        return 1;
    }

    /** Allocates the inputs and outputs from {@link #arena} and fills the inputs. */
    abstract void fill();

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofConfined();
        kernels = kernelsNamed(impl(), nativeThreads());
        fill();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernels.close();
        arena.close();
    }

    /**
     * {@code native} (the C core on nativeThreads threads), {@code native-tN} (on N threads), {@code vector} (Java
     * Vector API) or {@code scalar} (plain Java).
     */
    static Kernels kernelsNamed(String impl, int nativeThreads) {
        if (impl.equals("native")) return new NativeKernels(nativeThreads);
        if (impl.startsWith("native-t")) return new NativeKernels(Integer.parseInt(impl.substring("native-t".length())));
        return switch (impl) {
            case "vector" -> new VectorKernels();
            case "scalar" -> new ScalarKernels();
            default -> throw new IllegalArgumentException("unknown implementation '" + impl + "'");
        };
    }
}
