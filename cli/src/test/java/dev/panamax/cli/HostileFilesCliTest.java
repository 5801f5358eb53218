package dev.panamax.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.hostile.HostileCorpus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sample of the hostile-input corpus (the library's HostileCorpusTest runs all of it) through the command line, as a
 * user meets it: {@code ./panamax generate} on each file exits 0, or 1 with exactly one line "panamax: ..." on stderr.
 */
class HostileFilesCliTest {

    @TempDir
    Path dir;

    @Test
    void hostileFilesEndInOneLineAndExitCodeOne() throws Exception {
        List<HostileCorpus.Case> cases = HostileCorpus.generate(dir, 10);
        int rejected = 0, ran = 0;
        for (int i = 0; i < cases.size(); i += 13) { // every 13th: all classes, ~220 files
            HostileCorpus.Case c = cases.get(i);
            Path f = dir.resolve("cli-case.gguf");
            Files.write(f, c.bytes());
            CliTest.Result r = CliTest.run("generate", "-m", f.toString(), "-p", "Hello", "-n", "2", "--temp", "0",
                    "--threads", "1", "-c", "8");
            if (r.code() == 0) {
                ran++;
                continue;
            }
            assertEquals(1, r.code(), c + ": " + r.err());
            List<String> lines = r.err().strip().lines().toList();
            assertEquals(1, lines.size(), c + ": " + r.err());
            assertTrue(lines.get(0).startsWith("panamax: ") && lines.get(0).length() > "panamax: ".length() + 10, c + ": " + r.err());
            rejected++;
        }
        assertTrue(rejected > 100 && ran > 5, "rejected " + rejected + ", ran " + ran);
    }
}
