package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.model.TinyModels;
import java.io.IOException;
import java.nio.file.Path;

/** Fixtures: a tiny model that never stops on its own, an engine over it, a server on an ephemeral loopback port. */
final class TestServers {
    static final String MODEL_ID = "tiny-chat";
    static final int CTX = 2048;

    private TestServers() {}

    /** {@link TinyModels#writeNeverEnding}: TinyLlama's chat template, never EOS unless a grammar leaves only it. */
    static Path writeModel(Path dir) throws IOException {
        return TinyModels.writeNeverEnding(dir, CTX);
    }

    static Model loadModel(Path dir) throws IOException {
        return Model.load(writeModel(dir), Model.Options.defaults().withThreads(1));
    }

    static Engine engine(Model m, int queueCapacity) {
        return m.newEngine(Engine.Config.defaults().withMaxSequences(4).withContextLength(CTX).withQueueCapacity(queueCapacity));
    }

    static ServerConfig config() {
        return ServerConfig.defaults(MODEL_ID).withPort(0);
    }
}
