package dev.panamax.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * A real HAProxy in front of two {@link Replica}s, run from {@code docs/haproxy.cfg} (the configuration docs/deploy.md
 * documents) in the foreground; its stats CSV tells each replica's state as HAProxy sees it.
 */
final class Haproxy implements AutoCloseable {
    static final Path CONFIG = Path.of("../docs/haproxy.cfg"); // tests run in server/
    private final Process process;
    private final Path log;
    final String address, stats;
    private final HttpClient http = HttpClient.newHttpClient();

    private Haproxy(Process process, Path log, String address, String stats) {
        this.process = process;
        this.log = log;
        this.address = address;
        this.stats = stats;
    }

    /** The haproxy executable, or null. */
    static Path binary() {
        for (String d : (System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/usr/local/sbin").split(":")) {
            Path p = Path.of(d.isEmpty() ? "." : d, "haproxy");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** Aborts the calling test when haproxy is missing, or fails it with PANAMAX_REQUIRE_HAPROXY=1 (CI). */
    static Path requireBinary() {
        Path b = binary();
        if (b == null) {
            String why = "haproxy is not installed (Debian: apt-get install haproxy)";
            if ("1".equals(System.getenv("PANAMAX_REQUIRE_HAPROXY"))) Assertions.fail("PANAMAX_REQUIRE_HAPROXY=1 but " + why);
            Assumptions.abort("HAProxy test NOT RUN: " + why);
        }
        return b;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts HAProxy on free loopback ports with {@code balance}, logging to {@code log}; waits until both replicas are up. */
    static Haproxy start(Path log, String balance, Duration checkInterval, Replica a, Replica b) throws Exception {
        String address = "127.0.0.1:" + freePort(), stats = "127.0.0.1:" + freePort();
        ProcessBuilder pb = new ProcessBuilder(requireBinary().toString(), "-db", "-f", CONFIG.toAbsolutePath().normalize().toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.putAll(Map.of("PANAMAX_LB", address, "PANAMAX_STATS", stats, "PANAMAX_A", a.address, "PANAMAX_B", b.address,
                "PANAMAX_BALANCE", balance, "PANAMAX_CHECK", checkInterval.toMillis() + "ms"));
        Haproxy h = new Haproxy(pb.start(), log, address, stats);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            // a server is "UP 1/2" until its first check (HAProxy spreads first checks over the interval): enough
            // when checks are slow, where waiting for one could take the whole interval
            boolean slow = checkInterval.toSeconds() >= 10;
            while (!up(h.status("a"), slow) || !up(h.status("b"), slow)) {
                if (!h.process.isAlive()) throw new IllegalStateException("haproxy exited with " + h.process.exitValue() + ":\n" + h.log());
                if (System.nanoTime() > deadline) throw new IllegalStateException("haproxy never saw both replicas UP:\n" + h.log());
                Thread.sleep(50);
            }
        } catch (Exception e) {
            h.close();
            throw e;
        }
        return h;
    }

    private static boolean up(String status, boolean unchecked) {
        return status != null && (status.equals("UP") || unchecked && status.startsWith("UP"));
    }

    /** The backend's servers' rows of the stats CSV, by server name; each row by column name. */
    Map<String, Map<String, String>> servers() throws IOException, InterruptedException {
        Map<String, Map<String, String>> out = new HashMap<>();
        HttpResponse<String> r;
        try {
            r = http.send(HttpRequest.newBuilder(URI.create("http://" + stats + "/stats;csv")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (java.net.ConnectException e) {
            return out; // not listening yet
        }
        List<String> lines = r.body().lines().toList();
        if (lines.isEmpty() || !lines.get(0).startsWith("# ")) return out;
        String[] head = lines.get(0).substring(2).split(",", -1);
        for (String line : lines.subList(1, lines.size())) {
            String[] v = line.split(",", -1);
            if (v.length < head.length || !v[0].equals("panamax") || v[1].equals("BACKEND")) continue;
            Map<String, String> row = new HashMap<>();
            for (int i = 0; i < head.length; i++) row.put(head[i], v[i]);
            out.put(v[1], row);
        }
        return out;
    }

    /** UP, DOWN, "UP 1/2" (going down), ...; null before HAProxy answers. */
    String status(String server) throws IOException, InterruptedException {
        Map<String, String> row = servers().get(server);
        return row == null ? null : row.get("status");
    }

    /** Requests HAProxy is forwarding to the server now. */
    int current(String server) throws IOException, InterruptedException {
        Map<String, String> row = servers().get(server);
        return row == null ? -1 : Integer.parseInt(row.get("scur"));
    }

    String log() {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + log + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        http.close();
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly();
    }
}
