package dev.panamax.server;

import dev.panamax.Engine;
import dev.panamax.Model;
import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufMetadata;
import dev.panamax.gguf.GgufTensor;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import dev.panamax.model.TinyModels;
import dev.panamax.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** Fixtures: a tiny model that never stops on its own, an engine over it, a server on an ephemeral loopback port. */
final class TestServers {
    static final String MODEL_ID = "tiny-chat";
    static final int CTX = 2048;

    private TestServers() {}

    /**
     * TinyModels' llama (F32, TinyLlama's chat template) with a 2048-token context and the EOS row of output.weight
     * zeroed: greedy decoding never picks EOS (its logit 0 is below the top of 299 random ones), so a request runs to
     * its max_tokens and a long one stays in the engine long enough to be cancelled.
     */
    static Path writeModel(Path dir) throws IOException {
        Path src = TinyModels.write(dir, "llama", GgmlType.F32, false, 7, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE);
        Path out = dir.resolve("tiny-chat.gguf");
        try (GgufFile f = GgufFile.open(src); Arena arena = Arena.ofConfined()) {
            GgufMetadata md = f.metadata();
            GgufWriter w = new GgufWriter();
            for (String key : md.keys()) {
                if (key.equals("llama.context_length")) w.put(key, GgufValueType.UINT32, CTX);
                else w.put(key, md.typeOf(key), md.get(key));
            }
            for (GgufTensor t : f.tensors()) {
                MemorySegment data = t.data();
                if (t.name().equals("output.weight")) {
                    MemorySegment copy = arena.allocate(data.byteSize(), 64);
                    copy.copyFrom(data);
                    int dim = (int) t.shape()[0];
                    int eos = 2;
                    copy.asSlice((long) eos * dim * 4, (long) dim * 4).fill((byte) 0);
                    data = copy;
                }
                w.addTensor(t.name(), t.type(), t.shape(), data);
            }
            w.write(out);
        }
        return out;
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
