package dev.panamax.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Loading, CPU features and ISA forcing, seen from Java. */
class NativeCoreTest {

    @AfterEach
    void restore() {
        NativeCore.forceIsa(null);
    }

    @Test
    void loadsFromTheJarResourceOrTheConfiguredPath() {
        NativeCore.ensureLoaded();
        assertNotNull(NativeLibrary.loadedFrom());
        assertTrue(NativeCore.libraryVersion().matches("\\d+\\.\\d+\\.\\d+.*"), NativeCore.libraryVersion());
    }

    @Test
    void featuresMatchTheArchitecture() {
        var features = NativeCore.cpuFeatures();
        String arch = System.getProperty("os.arch");
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            assertTrue(features.contains("sse4_2"), features.toString());
            assertFalse(features.contains("neon"));
            if (features.contains("avx512f") && features.contains("avx512bw") && features.contains("avx512vl")
                    && features.contains("avx512dq")) {
                assertEquals(Isa.AVX512, NativeCore.activeIsa());
            } else if (features.contains("avx2") && features.contains("fma")) {
                assertEquals(Isa.AVX2, NativeCore.activeIsa());
            }
        } else if (arch.equals("aarch64")) {
            assertTrue(features.contains("neon"), features.toString());
        }
        for (String f : features) assertTrue(f.matches("[a-z0-9_]+"), f);
    }

    @Test
    void everyIsaCanBeForcedOrIsRefusedCleanly() {
        Isa best = NativeCore.activeIsa();
        for (Isa isa : Isa.values()) {
            if (NativeCore.isSupported(isa)) {
                NativeCore.forceIsa(isa);
                assertEquals(isa, NativeCore.activeIsa());
            } else {
                Isa before = NativeCore.activeIsa();
                assertThrows(UnsupportedOperationException.class, () -> NativeCore.forceIsa(isa));
                assertEquals(before, NativeCore.activeIsa(), "a refused ISA leaves the choice alone");
            }
        }
        NativeCore.forceIsa(null);
        assertEquals(best, NativeCore.activeIsa());
        assertTrue(NativeCore.isSupported(Isa.SCALAR));
    }

    @Test
    void platformResourcePathIsKnownHere() {
        assertNotNull(NativeLibrary.resourcePath(), "no bundled library path for " + System.getProperty("os.arch"));
    }
}
