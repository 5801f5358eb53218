package dev.panamax.spark;

import dev.panamax.Engine;
import dev.panamax.Model;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engines of this JVM (an executor, or the driver in local mode): one per model file and engine shape, shared by
 * every task that runs here. {@link #acquire} counts a user in, {@link Lease#close()} out; the engine and its model
 * are closed {@link #IDLE_MILLIS} after the last user left (so that the next partition on this executor does not map
 * the model again) and at JVM exit.
 */
public final class ExecutorEngines {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorEngines.class);

    /** How long an engine nobody uses stays open (system property panamax.spark.idleMillis). */
    static final long IDLE_MILLIS = Long.getLong("panamax.spark.idleMillis", 5000);

    /** The engine's shape: tasks with the same key share an engine. */
    record Key(Path model, int threads, int parallel, int contextLength) {}

    private static final class Shared {
        final Model model;
        final Engine engine;
        int users;
        ScheduledFuture<?> closer;

        Shared(Model model, Engine engine) {
            this.model = model;
            this.engine = engine;
        }

        void close() {
            engine.close();
            model.close();
        }
    }

    private static final Map<Key, Shared> ENGINES = new HashMap<>();
    private static final ScheduledExecutorService CLOSER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "panamax-engine-closer");
        t.setDaemon(true);
        return t;
    });
    private static boolean hookAdded;
    private static final Map<Path, Integer> LOADS = new HashMap<>(); // model file -> times mapped in this JVM (tests)

    private ExecutorEngines() {}

    /** A task's use of an engine: close it once (idempotent). */
    public static final class Lease implements AutoCloseable {
        private final Key key;
        private final Shared shared;
        private boolean closed;

        private Lease(Key key, Shared shared) {
            this.key = key;
            this.shared = shared;
        }

        public Engine engine() {
            return shared.engine;
        }

        @Override
        public void close() {
            synchronized (ExecutorEngines.class) {
                if (closed) return;
                closed = true;
                if (--shared.users == 0) {
                    shared.closer = CLOSER.schedule(() -> closeIfIdle(key, shared), IDLE_MILLIS, TimeUnit.MILLISECONDS);
                }
            }
        }
    }

    /** The shared engine for this spec (loaded on first use), counted in until the lease is closed. */
    public static synchronized Lease acquire(GenerationSpec spec, int threads) {
        Path file = resolve(spec.modelPath());
        Key key = new Key(file, threads, spec.parallel(), spec.contextLength());
        Shared s = ENGINES.get(key);
        if (s == null) {
            s = open(key);
            ENGINES.put(key, s);
            LOADS.merge(key.model(), 1, Integer::sum);
            if (!hookAdded) {
                Runtime.getRuntime().addShutdownHook(new Thread(ExecutorEngines::closeAll, "panamax-engines-exit"));
                hookAdded = true;
            }
        }
        if (s.closer != null) {
            s.closer.cancel(false);
            s.closer = null;
        }
        s.users++;
        return new Lease(key, s);
    }

    /** How many times this JVM has mapped the file (tests: once per executor, never per task). */
    static synchronized int loads(Path model) {
        return LOADS.getOrDefault(model, 0);
    }

    /** Engines open in this JVM (tests). */
    static synchronized int openEngines() {
        return ENGINES.size();
    }

    /** Closes every engine nobody uses now (tests, and a driver that wants its memory back at once). */
    public static synchronized void closeIdle() {
        ENGINES.entrySet().removeIf(e -> {
            if (e.getValue().users > 0) return false;
            e.getValue().close();
            return true;
        });
    }

    private static synchronized void closeIfIdle(Key key, Shared s) {
        if (s.users == 0 && ENGINES.get(key) == s) {
            ENGINES.remove(key);
            s.close();
            LOG.info("closed the engine of {} (idle)", key.model());
        }
    }

    private static synchronized void closeAll() {
        for (Shared s : ENGINES.values()) s.close(); // cancels what is in flight
        ENGINES.clear();
    }

    private static Shared open(Key key) {
        Model model;
        try {
            model = Model.load(key.model(), Model.Options.defaults().withThreads(key.threads()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load the model " + key.model() + " on host " + host() + ": " + e.getMessage(), e);
        }
        try {
            Engine.Config c = Engine.Config.defaults().withMaxSequences(key.parallel()).withContextLength(key.contextLength())
                    .withQueueCapacity(1 << 16).withThreads(key.threads());
            Engine engine = model.newEngine(c);
            LOG.info("engine for {}: {} threads, {} sequences, context {}, {}", key.model(), engine.threads(), key.parallel(),
                    engine.contextLength(), engine.kernelsName());
            return new Shared(model, engine);
        } catch (RuntimeException | Error e) {
            model.close();
            throw e;
        }
    }

    /** The model's path on this host: the path itself, else a file of that name added with SparkContext.addFile. */
    static Path resolve(String modelPath) {
        Path p = Path.of(modelPath);
        if (Files.isRegularFile(p)) return p.toAbsolutePath();
        String fetched = sparkFile(p.getFileName().toString());
        if (fetched != null && Files.isRegularFile(Path.of(fetched))) return Path.of(fetched);
        throw new ModelNotFoundException("the model file " + modelPath + " does not exist on host " + host()
                + " (it must be at that path on every executor, or added with SparkContext.addFile)");
    }

    private static String sparkFile(String name) {
        try {
            if (org.apache.spark.SparkEnv.get() == null) return null;
            return org.apache.spark.SparkFiles.get(name);
        } catch (RuntimeException e) {
            return null;
        }
    }

    static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }

    /** The model file is not where the job says. */
    public static final class ModelNotFoundException extends IllegalArgumentException {
        public ModelNotFoundException(String message) {
            super(message);
        }
    }
}
