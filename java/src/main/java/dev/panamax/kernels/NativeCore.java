package dev.panamax.kernels;

import dev.panamax.ffi.PanamaxNative;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Process-wide facts and switches of the C core: ABI and library versions, CPU features, the active ISA.
 * Every method loads the library first and checks that its ABI matches the bindings.
 */
public final class NativeCore {
    private static volatile boolean checked;

    private NativeCore() {}

    /** Loads the library and verifies its ABI version against the one the bindings were generated for. */
    public static void ensureLoaded() {
        if (checked) return;
        synchronized (NativeCore.class) {
            if (checked) return;
            NativeLibrary.load();
            int lib = PanamaxNative.pmx_abi_version();
            int bindings = PanamaxNative.PMX_ABI_VERSION();
            if (lib != bindings) {
                throw new UnsatisfiedLinkError("libpanamax ABI version " + lib + " (from " + NativeLibrary.loadedFrom()
                        + ") does not match the Java bindings' ABI version " + bindings + ": rebuild the native library");
            }
            // the block geometry is ggml's, held once on each side of the boundary: the C table (api.c) answers for
            // every type the Java one lists, or the two sides would read a tensor's rows at different offsets
            for (dev.panamax.tensor.GgmlType t : dev.panamax.tensor.GgmlType.values()) {
                long bs = PanamaxNative.pmx_type_block_size(t.id()), bb = PanamaxNative.pmx_type_block_bytes(t.id());
                if (bs != t.blockSize() || bb != t.blockBytes()) {
                    throw new UnsatisfiedLinkError("libpanamax has type " + t + " as " + bs + " elements in " + bb
                            + " bytes per block, the Java side " + t.blockSize() + " in " + t.blockBytes());
                }
            }
            checked = true;
        }
    }

    public static int abiVersion() {
        ensureLoaded();
        return PanamaxNative.pmx_abi_version();
    }

    public static String libraryVersion() {
        ensureLoaded();
        return PanamaxNative.pmx_version().getString(0);
    }

    /** Lower-case names of the CPU features the C core detected (and the OS enabled), e.g. "avx512_vnni". */
    public static List<String> cpuFeatures() {
        ensureLoaded();
        long bits = PanamaxNative.pmx_cpu_features();
        List<String> names = new ArrayList<>();
        for (int b = 0; b < 64; b++) {
            long bit = 1L << b;
            if ((bits & bit) == 0) continue;
            MemorySegment name = PanamaxNative.pmx_cpu_feature_name(bit);
            names.add(name.equals(MemorySegment.NULL) ? "bit" + b : name.getString(0));
        }
        return names;
    }

    public static boolean isSupported(Isa isa) {
        ensureLoaded();
        return PanamaxNative.pmx_isa_supported(isa.code) != 0;
    }

    public static Isa activeIsa() {
        ensureLoaded();
        return Isa.of(PanamaxNative.pmx_active_isa());
    }

    /**
     * Pins the native kernel set for the whole process (null restores the best one). Not to be called while
     * kernels run on other threads.
     *
     * @throws UnsupportedOperationException when this CPU cannot run that ISA
     */
    public static void forceIsa(Isa isa) {
        ensureLoaded();
        int rc = PanamaxNative.pmx_force_isa(isa == null ? PanamaxNative.PMX_ISA_AUTO() : isa.code);
        if (rc == PanamaxNative.PMX_ERR_UNSUPPORTED_ISA()) {
            throw new UnsupportedOperationException("this CPU cannot run the " + isa.id() + " kernels (features: "
                    + cpuFeatures() + ")");
        }
        Status.check(rc, "pmx_force_isa");
    }
}
