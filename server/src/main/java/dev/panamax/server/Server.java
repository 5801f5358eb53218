package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.RequestHandle;
import java.io.IOException;
import java.net.URI;
import java.util.concurrent.Executors;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server over an {@link Engine}, embeddable: {@code try (Server s = Server.start(engine,
 * ServerConfig.defaults("my-model"))) { ... }}. Jetty with a virtual thread per request. {@link #close()} shuts down
 * gracefully: new requests get 503, running ones may finish until the configured timeout, then they are cancelled and
 * HTTP stops. The engine stays open: it belongs to the caller.
 */
public final class Server implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Server.class);

    private final org.eclipse.jetty.server.Server jetty;
    private final ServerConnector connector;
    private final ApiHandler handler;
    private final ServerConfig config;
    private boolean closed;

    private Server(org.eclipse.jetty.server.Server jetty, ServerConnector connector, ApiHandler handler, ServerConfig config) {
        this.jetty = jetty;
        this.connector = connector;
        this.handler = handler;
        this.config = config;
    }

    /**
     * Binds and starts serving.
     *
     * @throws IOException when the address cannot be bound
     */
    public static Server start(Engine engine, ServerConfig config) throws IOException {
        QueuedThreadPool pool = new QueuedThreadPool();
        pool.setName("panamax-http");
        pool.setVirtualThreadsExecutor(Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("panamax-req-", 0).factory()));
        org.eclipse.jetty.server.Server jetty = new org.eclipse.jetty.server.Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
        connector.setHost(config.host());
        connector.setPort(config.port());
        connector.setIdleTimeout(300_000); // a long non-streaming generation writes nothing for a while
        jetty.addConnector(connector);
        ApiHandler handler = new ApiHandler(engine, config, new ServerMetrics(engine, config.modelId()));
        jetty.setHandler(handler);
        jetty.setErrorHandler(new JsonErrorHandler());
        jetty.setStopTimeout(0);
        try {
            jetty.start();
        } catch (Exception e) {
            handler.watcher.close();
            try {
                jetty.stop();
            } catch (Exception ignored) {
                // already failing
            }
            if (e instanceof IOException io) throw io;
            throw new IOException("cannot start the server on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        Server s = new Server(jetty, connector, handler, config);
        LOG.info("serving {} on {} (engine: {}, context {}{})", config.modelId(), s.baseUri(), engine.kernelsName(),
                engine.contextLength(), config.apiKey() == null ? "" : ", API key required");
        return s;
    }

    /** The bound port (the ephemeral one when the config said 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** {@code http://host:port} (the OpenAI base URL is this plus {@code /v1}). */
    public URI baseUri() {
        String h = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        if (h.equals("0.0.0.0")) h = "127.0.0.1";
        return URI.create("http://" + h + ":" + port());
    }

    /** Requests being handled now. */
    public int activeRequests() {
        return handler.active.get();
    }

    /**
     * Stops gracefully: new requests get 503 at once; running ones have {@link ServerConfig#shutdownTimeout()} to
     * finish, then their engine requests are cancelled (streams end with an error event); then HTTP stops.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        handler.closing = true;
        long deadline = System.nanoTime() + config.shutdownTimeout().toNanos();
        waitIdle(deadline);
        if (handler.active.get() > 0) {
            LOG.info("cancelling {} requests still running after {}", handler.inFlight.size(), config.shutdownTimeout());
            for (RequestHandle h : handler.inFlight) h.cancel();
            waitIdle(System.nanoTime() + 2_000_000_000L);
        }
        try {
            jetty.stop();
        } catch (Exception e) {
            LOG.warn("stopping HTTP: {}", e.toString());
        }
        handler.watcher.close();
        LOG.info("server stopped");
    }

    private void waitIdle(long deadline) {
        while (handler.active.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
