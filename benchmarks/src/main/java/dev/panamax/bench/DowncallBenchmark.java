package dev.panamax.bench;

import dev.panamax.ffi.PanamaxNative;
import dev.panamax.kernels.NativeCore;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Setup;

/** The bare cost of one FFM downcall into the C core (a function that only returns a constant). */
public class DowncallBenchmark extends PanamaxBenchmark {
    @Setup
    public void load() {
        NativeCore.ensureLoaded();
    }

    @Benchmark
    public int abiVersion() {
        return PanamaxNative.pmx_abi_version();
    }
}
