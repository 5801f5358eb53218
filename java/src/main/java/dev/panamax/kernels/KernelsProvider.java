package dev.panamax.kernels;

import dev.panamax.Backend;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the {@link Kernels} implementation: native when the C core loads, else the Java backend; within
 * Java, the Vector API when the JVM has the incubator module, else scalar. The reason is logged, and the
 * choice can be forced (CLI {@code --backend native|java}).
 */
public final class KernelsProvider {
    private static final Logger log = LoggerFactory.getLogger(KernelsProvider.class);

    private KernelsProvider() {}

    /**
     * @param backend null for automatic choice
     * @param threads threads per operation; <= 0 means one per CPU
     */
    public static Kernels create(Backend backend, int threads) {
        if (backend == Backend.NATIVE) {
            Kernels k = new NativeKernels(threads); // forced: a load failure is the caller's error to see
            log.info("kernels: {} ({} threads), forced", k.name(), k.threads());
            return k;
        }
        if (backend == null) {
            try {
                Kernels k = new NativeKernels(threads);
                log.info("kernels: {} ({} threads): native library loaded, CPU features {}", k.name(), k.threads(),
                        NativeCore.cpuFeatures());
                return k;
            } catch (UnsatisfiedLinkError | IllegalStateException e) {
                log.warn("native kernels unavailable, using the Java backend: {}", e.getMessage());
            }
        }
        return javaKernels(backend == Backend.JAVA ? "forced" : "fallback", threads);
    }

    /** {@link #javaKernels(String, int)} on one thread. */
    public static Kernels javaKernels(String why) {
        return javaKernels(why, 1);
    }

    /**
     * The Vector API implementation, or the scalar one when this JVM lacks the incubator module.
     *
     * @param threads threads per operation; <= 0 means one per CPU
     */
    public static Kernels javaKernels(String why, int threads) {
        try {
            Kernels k = new VectorKernels(threads);
            log.info("kernels: {} ({} threads), {}", k.name(), k.threads(), why);
            return k;
        } catch (LinkageError e) {
            log.warn("Vector API unavailable ({}); start the JVM with --add-modules jdk.incubator.vector. Using java/scalar",
                    e.toString());
            return new ScalarKernels(threads);
        }
    }
}
