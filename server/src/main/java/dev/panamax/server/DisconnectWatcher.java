package dev.panamax.server;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices that the client of a non-streaming request closed its connection while the reply is being generated. The
 * server reads nothing while it generates, so the connection's own selector never sees the close; this one watches the
 * same socket for readability (a second registration of the channel) and, when it becomes readable with no bytes
 * waiting, the peer has closed: the request is cancelled (llama-server's check, a peek that reads 0). Bytes waiting
 * instead (a pipelined request, which clients do not send after a POST) stop the watch without cancelling. One thread.
 */
final class DisconnectWatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DisconnectWatcher.class);

    private final Selector selector;
    private final Thread thread;
    private final ConcurrentLinkedQueue<Watch> added = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;

    /** One watched request; close it when the reply is written. */
    final class Watch implements AutoCloseable {
        final SocketChannel channel;
        final Runnable onGone;
        volatile SelectionKey key;
        volatile boolean done;

        Watch(SocketChannel channel, Runnable onGone) {
            this.channel = channel;
            this.onGone = onGone;
        }

        @Override
        public void close() {
            done = true;
            SelectionKey k = key;
            if (k != null) k.cancel();
            selector.wakeup();
        }
    }

    DisconnectWatcher() throws IOException {
        selector = Selector.open();
        thread = Thread.ofPlatform().name("panamax-disconnect-watch").daemon().start(this::loop);
    }

    /** Watches the channel until the returned watch is closed; null when the channel cannot be watched. */
    Watch watch(SocketChannel channel, Runnable onGone) {
        if (closed || channel == null || !channel.isOpen()) return null;
        Watch w = new Watch(channel, onGone);
        added.add(w);
        selector.wakeup();
        return w;
    }

    private void loop() {
        while (!closed) {
            try {
                selector.select(1000);
                for (Watch w; (w = added.poll()) != null; ) {
                    if (w.done) continue;
                    try {
                        w.key = w.channel.register(selector, SelectionKey.OP_READ, w);
                        if (w.done) w.key.cancel();
                    } catch (ClosedChannelException e) {
                        w.onGone.run();
                    }
                }
                for (SelectionKey k : selector.selectedKeys()) {
                    Watch w = (Watch) k.attachment();
                    k.cancel();
                    if (w.done) continue;
                    int waiting;
                    try {
                        waiting = w.channel.socket().getInputStream().available();
                    } catch (IOException e) {
                        waiting = 0; // a reset connection
                    }
                    if (waiting == 0) w.onGone.run();
                }
                selector.selectedKeys().clear();
            } catch (IOException | RuntimeException e) {
                LOG.warn("disconnect watch failed", e);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        try {
            thread.join(2000);
            selector.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
