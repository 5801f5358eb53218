package dev.panamax.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A library named by {@code -Dpanamax.library.path} is the one loaded: NativeLibrary falls back to the bundled library
 * when that path fails to load, so a run meant for another build (scripts/test-java-asan.sh, the AddressSanitizer
 * build) would otherwise test the bundled one without saying so.
 */
class LibraryPathTest {

    @Test
    void configuredLibraryIsTheOneLoaded() throws Exception {
        NativeLibrary.load();
        String configured = System.getProperty(NativeLibrary.PATH_PROPERTY);
        if (configured == null || configured.isBlank()) {
            assertEquals(true, NativeLibrary.loadedFrom().startsWith("bundled"), NativeLibrary.loadedFrom());
            return; // the usual run: the bundled library
        }
        Path p = Path.of(configured);
        if (Files.isDirectory(p)) p = p.resolve(NativeLibrary.LIBRARY_FILE);
        assertEquals(p.toAbsolutePath().toString(), NativeLibrary.loadedFrom(),
                "-D" + NativeLibrary.PATH_PROPERTY + "=" + configured + ": the library came from elsewhere");
    }
}
