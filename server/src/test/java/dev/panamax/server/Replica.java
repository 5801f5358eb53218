package dev.panamax.server;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code serve} ({@link ServeMain}, as {@code ./panamax serve} runs it) in a child JVM on an ephemeral loopback port:
 * a replica that can be killed (SIGKILL) or stopped gracefully (SIGTERM) like a real one. Its output goes to a log file.
 */
final class Replica implements AutoCloseable {
    private static final Pattern SERVING = Pattern.compile("panamax: serving \\S+ at http://([^ /]+)/v1");

    final String name;
    final Process process;
    final Path log;
    final String address; // host:port

    private Replica(String name, Process process, Path log, String address) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.address = address;
    }

    /** Starts {@code serve -m model --port 0 args...}; several may start at once, {@link #awaitReady} waits for one. */
    static Process launch(Path model, Path log, String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-XX:+UseSerialGC", "-Xmx256m", "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS", "-cp", System.getProperty("java.class.path"), ServeMain.class.getName(),
                "-m", model.toString(), "--port", "0", "--threads", "1"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits until the launched replica prints its address and answers 200 on /ready. */
    static Replica awaitReady(String name, Process p, Path log, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        String address = null;
        while (address == null) {
            if (!p.isAlive()) throw new IllegalStateException("replica " + name + " exited with " + p.exitValue() + ":\n" + read(log));
            if (System.nanoTime() > deadline) throw new IllegalStateException("replica " + name + " did not start in " + timeout + ":\n" + read(log));
            Matcher m = SERVING.matcher(read(log));
            if (m.find()) address = m.group(1);
            else Thread.sleep(50);
        }
        Replica r = new Replica(name, p, log, address);
        try (HttpClient http = HttpClient.newHttpClient()) {
            while (r.get(http, "/ready").statusCode() != 200) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("replica " + name + " never ready:\n" + read(log));
                Thread.sleep(50);
            }
        }
        return r;
    }

    URI uri(String path) {
        return URI.create("http://" + address + path);
    }

    HttpResponse<String> get(HttpClient http, String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    String log() {
        return read(log);
    }

    private static String read(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** SIGKILL: the process is gone at once, its sockets reset by the kernel. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** SIGTERM: the shutdown hook drains and stops the server. */
    void terminate() {
        process.destroy();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) kill();
    }
}
