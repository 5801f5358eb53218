package dev.panamax.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads {@code libpanamax.so} once per JVM, before the jextract bindings ({@code dev.panamax.ffi}) look up
 * their symbols. Tried in order: the {@value #PATH_PROPERTY} system property (a file, or a directory
 * holding the library), then the copy inside the jar, extracted to a private temporary file. When none
 * loads, the error lists every attempt and why it failed.
 */
public final class NativeLibrary {
    public static final String PATH_PROPERTY = "panamax.library.path";
    static final String LIBRARY_FILE = "libpanamax.so";
    private static final Logger log = LoggerFactory.getLogger(NativeLibrary.class);

    private static volatile String loadedFrom;
    private static volatile UnsatisfiedLinkError failure;

    private NativeLibrary() {}

    /** Loads the library if that has not happened yet; throws the same error on every call if it cannot. */
    public static synchronized void load() {
        if (loadedFrom != null) return;
        if (failure != null) throw failure;
        List<String> attempts = new ArrayList<>();
        String configured = System.getProperty(PATH_PROPERTY);
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured);
            if (Files.isDirectory(p)) p = p.resolve(LIBRARY_FILE);
            if (tryLoad(p, "-D" + PATH_PROPERTY + "=" + configured, attempts)) return;
        } else {
            attempts.add("-D" + PATH_PROPERTY + ": not set");
        }
        String resource = resourcePath();
        if (resource == null) {
            attempts.add("bundled library: no build for " + platformDescription());
        } else {
            try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
                if (in == null) {
                    attempts.add("bundled library " + resource + ": not in the jar (was the native build skipped?)");
                } else {
                    Path tmp = extract(in);
                    if (tryLoad(tmp, "bundled " + resource, attempts)) return;
                }
            } catch (IOException e) {
                attempts.add("bundled library " + resource + ": cannot extract: " + e.getMessage());
            }
        }
        failure = new UnsatisfiedLinkError("Panamax native library could not be loaded. Tried:\n  - "
                + String.join("\n  - ", attempts));
        throw failure;
    }

    /** Where the library came from, or null before {@link #load()} succeeded. */
    public static String loadedFrom() {
        return loadedFrom;
    }

    /** The jar resource of this OS and CPU architecture, or null when Panamax has no build for it. */
    static String resourcePath() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = switch (System.getProperty("os.arch", "")) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> null;
        };
        if (!os.contains("linux") || arch == null) return null;
        return "/dev/panamax/native/linux-" + arch + "/" + LIBRARY_FILE;
    }

    private static String platformDescription() {
        return System.getProperty("os.name") + "/" + System.getProperty("os.arch");
    }

    private static boolean tryLoad(Path file, String source, List<String> attempts) {
        if (!Files.isRegularFile(file)) {
            attempts.add(source + ": " + file + " does not exist");
            return false;
        }
        try {
            System.load(file.toAbsolutePath().toString());
            loadedFrom = source.startsWith("bundled") ? source : file.toAbsolutePath().toString();
            log.debug("loaded native library from {}", loadedFrom);
            return true;
        } catch (UnsatisfiedLinkError e) {
            attempts.add(source + ": " + e.getMessage());
            return false;
        }
    }

    private static Path extract(InputStream in) throws IOException {
        Path tmp = Files.createTempFile("panamax-", ".so",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        tmp.toFile().deleteOnExit();
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        return tmp;
    }
}
