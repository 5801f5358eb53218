package dev.panamax.spark;

import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import dev.panamax.EngineOverloadedException;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.grammar.Grammar;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ExecutionException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;

/**
 * One partition's rows through this executor's shared engine: up to {@link GenerationSpec#inFlight()} rows submitted
 * ahead of the one being returned, results in input order. The task's end (success, failure or kill) cancels what it
 * still has in the engine and releases its lease.
 */
final class RowGenerator implements MapPartitionsFunction<Row, Row> {
    private final GenerationSpec spec;
    private final StructType schema;

    RowGenerator(GenerationSpec spec, StructType schema) {
        this.spec = spec;
        this.schema = schema;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        ExecutorEngines.Lease lease = ExecutorEngines.acquire(spec, spec.threads() > 0 ? spec.threads() : PanamaxSpark.executorCores());
        Window w = new Window(lease, rows);
        TaskContext task = TaskContext.get();
        if (task != null) task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> w.close());
        return w;
    }

    /** A row on its way: the engine's handle, or the reason it never got one. */
    private record Pending(Row row, RequestHandle handle, String error) {}

    private final class Window implements Iterator<Row>, AutoCloseable {
        final ExecutorEngines.Lease lease;
        final Engine engine;
        final Iterator<Row> input;
        final ArrayDeque<Pending> pending = new ArrayDeque<>();
        final int promptField, seedField;
        final int limit = spec.inFlight();
        final Grammar grammar; // the JSON schema's, or null
        final StructType jsonType;
        ChatTemplate template;
        boolean closed;

        Window(ExecutorEngines.Lease lease, Iterator<Row> input) {
            this.lease = lease;
            this.engine = lease.engine();
            this.input = input;
            this.promptField = schema.fieldIndex(spec.promptColumn() != null ? spec.promptColumn() : spec.messagesColumn());
            this.seedField = spec.seedColumn() == null ? -1 : schema.fieldIndex(spec.seedColumn());
            this.grammar = spec.jsonSchema() == null ? null : JsonSchemaColumn.grammar(spec.jsonSchema());
            this.jsonType = spec.jsonSchema() == null ? null : JsonSchemaColumn.structType(spec.jsonSchema());
        }

        @Override
        public boolean hasNext() {
            fill();
            if (pending.isEmpty()) close(); // the partition is done: the engine may go before the task ends
            return !pending.isEmpty();
        }

        @Override
        public Row next() {
            if (!hasNext()) throw new NoSuchElementException();
            Pending p = pending.removeFirst();
            fill(); // keep the window full while this row is waited for
            return output(p);
        }

        private void fill() {
            while (!closed && pending.size() < limit && input.hasNext()) pending.addLast(submit(input.next()));
        }

        private Pending submit(Row row) {
            int[] tokens;
            try {
                tokens = prompt(row);
            } catch (BadRowException | dev.panamax.tokenizer.ChatTemplateException e) {
                return new Pending(row, null, e.getMessage());
            }
            int ctx = engine.contextLength();
            if (tokens.length >= ctx) {
                return new Pending(row, null, "the prompt has " + tokens.length + " tokens, the context holds " + ctx);
            }
            int max = Math.min(spec.maxTokens(), ctx - tokens.length);
            long seed = seedField >= 0 && !row.isNullAt(seedField) ? ((Number) row.get(seedField)).longValue() : rowSeed(tokens);
            GenerationRequest req = new GenerationRequest(tokens, max, spec.sampling(seed).withGrammar(grammar), spec.stop());
            while (true) {
                try {
                    return new Pending(row, engine.submit(req), null);
                } catch (EngineOverloadedException e) {
                    sleep(); // other tasks filled the queue: theirs drain first
                } catch (ContextOverflowException | IllegalArgumentException e) {
                    return new Pending(row, null, e.getMessage());
                }
            }
        }

        /** The job's seed mixed with the prompt: the same row samples the same in any partition or attempt. */
        private long rowSeed(int[] tokens) {
            long h = spec.seed() * 0x9E3779B97F4A7C15L + Arrays.hashCode(tokens);
            h ^= h >>> 31;
            return h * 0xBF58476D1CE4E5B9L;
        }

        private int[] prompt(Row row) {
            if (row.isNullAt(promptField)) throw new BadRowException("the " + (spec.promptColumn() != null ? "prompt" : "messages") + " is null");
            Model model = engine.model();
            if (spec.promptColumn() != null) {
                Object v = row.get(promptField);
                String text = v instanceof byte[] b ? utf8(b) : (String) v;
                if (text.isEmpty()) throw new BadRowException("the prompt is empty");
                return model.tokenizer().encode(text);
            }
            List<ChatMessage> messages = new ArrayList<>();
            List<Object> list = row.getList(promptField);
            if (list.isEmpty()) throw new BadRowException("the messages list is empty");
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof Row m)) throw new BadRowException("messages[" + i + "] is null");
                String role = m.getAs("role"), content = m.getAs("content");
                if (role == null || content == null) throw new BadRowException("messages[" + i + "] has no " + (role == null ? "role" : "content"));
                messages.add(new ChatMessage(role, content));
            }
            if (template == null) {
                try {
                    template = model.chatTemplate();
                } catch (dev.panamax.gguf.GgufFormatException e) {
                    throw new IllegalStateException("the model's chat template cannot be read: " + e.getMessage(), e);
                }
            }
            return template.tokenize(template.render(messages, true), model.tokenizer());
        }

        private Row output(Pending p) {
            Object[] v = Arrays.copyOf(rowValues(p.row()), schema.size() + PanamaxSpark.OUTPUT_COLUMNS.size() + (jsonType != null ? 1 : 0));
            int o = schema.size();
            String error = p.error();
            if (error == null) {
                try {
                    Generation g = p.handle().result().get(); // interruptible: a killed task stops waiting
                    if (g.stop() == Generation.StopReason.CANCELLED) {
                        error = "cancelled: the engine closed";
                    } else {
                        v[o] = g.text();
                        v[o + 1] = finishReason(g.stop());
                        v[o + 2] = g.promptTokens().length;
                        v[o + 3] = g.tokens().length;
                        v[o + 4] = g.cachedTokens();
                        if (jsonType != null) {
                            if (g.stop() == Generation.StopReason.LENGTH || g.stop() == Generation.StopReason.CONTEXT_FULL) {
                                error = "the generation stopped at " + g.tokens().length + " tokens ("
                                        + (g.stop() == Generation.StopReason.LENGTH ? "max tokens" : "the context is full")
                                        + ") before its JSON value was complete";
                            } else {
                                try {
                                    v[o + 6] = JsonSchemaColumn.parse(g.text(), jsonType);
                                } catch (IllegalArgumentException e) {
                                    error = "the completion is not JSON of the schema: " + e.getMessage();
                                }
                            }
                        }
                    }
                } catch (ExecutionException e) {
                    Throwable c = e.getCause() != null ? e.getCause() : e;
                    error = c.getClass().getSimpleName() + ": " + c.getMessage();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    close();
                    throw new IllegalStateException("interrupted while waiting for a completion", e);
                }
            }
            v[o + 5] = error;
            return RowFactory.create(v);
        }

        private Object[] rowValues(Row r) {
            Object[] v = new Object[r.size()];
            for (int i = 0; i < v.length; i++) v[i] = r.get(i);
            return v;
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            for (Pending p : pending) if (p.handle() != null) p.handle().cancel();
            lease.close();
        }
    }

    /** The OpenAI names: length (the token limit or the context), stop (end of generation, a stop string). */
    static String finishReason(Generation.StopReason r) {
        return switch (r) {
            case LENGTH, CONTEXT_FULL -> "length";
            case END_OF_GENERATION, STOP_STRING, NO_ALLOWED_TOKEN -> "stop";
            case CANCELLED -> "cancelled";
        };
    }

    static String utf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw new BadRowException("the prompt is not valid UTF-8: " + e.getMessage());
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the engine's queue was full", e);
        }
    }

    private static final class BadRowException extends RuntimeException {
        BadRowException(String message) {
            super(message);
        }
    }
}
