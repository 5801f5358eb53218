package dev.panamax.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.ffi.PanamaxNative;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Stale bindings cannot land: every declaration of panamax.h has a generated binding, and the ABIs agree. */
class BindingsTest {
    private static final Path ROOT = Path.of(System.getProperty("panamax.source.root", ".."));
    private static final Path HEADER = ROOT.resolve("native/include/panamax.h");

    private static String headerWithoutComments() throws IOException {
        String text = Files.readString(HEADER);
        return text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
    }

    static Set<String> declaredFunctions() throws IOException {
        Set<String> names = new TreeSet<>();
        // a declaration: return type, name, parameter list, semicolon (typedefs of function pointers excluded)
        Matcher m = Pattern.compile("(?m)^[A-Za-z_][\\w \\t*]*?\\b(pmx_\\w+)\\s*\\([^;{]*\\)\\s*;").matcher(headerWithoutComments());
        while (m.find()) {
            if (!m.group().startsWith("typedef")) names.add(m.group(1));
        }
        return names;
    }

    /** Numeric constants (not PMX_EXPORT and the like). */
    static Set<String> declaredConstants() throws IOException {
        Set<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^\\s*#define\\s+(PMX_\\w+)\\s+[-(0-9]").matcher(headerWithoutComments());
        while (m.find()) names.add(m.group(1));
        return names;
    }

    private static boolean hasPublicStatic(String name) {
        for (Method method : PanamaxNative.class.getMethods()) {
            if (method.getName().equals(name) && Modifier.isStatic(method.getModifiers())) return true;
        }
        return false;
    }

    @Test
    void everyFunctionAndConstantHasABinding() throws IOException {
        Set<String> functions = declaredFunctions();
        Set<String> constants = declaredConstants();
        assertTrue(functions.contains("pmx_abi_version") && functions.size() > 10, "header parse found " + functions);
        assertTrue(constants.contains("PMX_ABI_VERSION"), "header parse found " + constants);
        List<String> missing = new ArrayList<>();
        for (String f : functions) if (!hasPublicStatic(f)) missing.add(f);
        for (String c : constants) if (!hasPublicStatic(c)) missing.add(c);
        assertEquals(List.of(), missing, "declared in panamax.h but not in the generated bindings: run jextract/regenerate.sh");
    }

    @Test
    void bindingsWereGeneratedFromThisHeader() throws IOException, NoSuchAlgorithmException {
        String recorded = Files.readString(ROOT.resolve("jextract/panamax.h.sha256")).trim();
        String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(HEADER)));
        assertEquals(recorded, actual, "panamax.h changed since the bindings were generated: run jextract/regenerate.sh");
    }

    @Test
    void abiVersionsAgree() throws IOException {
        Matcher m = Pattern.compile("#define\\s+PMX_ABI_VERSION\\s+(\\d+)").matcher(Files.readString(HEADER));
        assertTrue(m.find());
        int header = Integer.parseInt(m.group(1));
        assertEquals(header, PanamaxNative.PMX_ABI_VERSION(), "bindings vs header");
        assertEquals(header, NativeCore.abiVersion(), "library vs header");
    }

    @Test
    void generatedFilesAreExactlyWhatJextractWrote() throws IOException, NoSuchAlgorithmException {
        Path generated = ROOT.resolve("java/src/generated/java");
        List<String> recorded = Files.readAllLines(ROOT.resolve("jextract/generated.sha256"));
        assertFalse(recorded.isEmpty());
        List<String> actual = new ArrayList<>();
        try (var files = Files.walk(generated)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
                String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
                actual.add(digest + "  ./" + generated.relativize(p));
            }
        }
        assertEquals(recorded.stream().sorted().toList(), actual.stream().sorted().toList(),
                "generated bindings differ from jextract's output: never edit them, run jextract/regenerate.sh");
    }
}
