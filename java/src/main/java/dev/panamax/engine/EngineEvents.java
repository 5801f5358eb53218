package dev.panamax.engine;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.EventType;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * The engine's JDK Flight Recorder events, so that a service's recordings show the model beside its own work: {@value
 * #STEP} (one forward step: its duration, sequences, prompt and decode tokens) and {@value #REQUEST} (one finished
 * request). Emitted only while a recording enables them: the step checks {@link #stepEnabled()} (a read of the event
 * type's state) and allocates nothing otherwise.
 */
final class EngineEvents {
    static final String STEP = "dev.panamax.EngineStep";
    static final String REQUEST = "dev.panamax.Request";

    private static final EventType STEP_TYPE = EventType.getEventType(Step.class);
    private static final EventType REQUEST_TYPE = EventType.getEventType(Request.class);

    private EngineEvents() {}

    static boolean stepEnabled() {
        return STEP_TYPE.isEnabled();
    }

    static boolean requestEnabled() {
        return REQUEST_TYPE.isEnabled();
    }

    @Name(STEP)
    @Label("Engine Step")
    @Category("Panamax")
    @Description("One forward pass of the serving engine over its batch of sequences")
    @StackTrace(false)
    static final class Step extends Event {
        @Label("Sequences")
        int sequences;
        @Label("Prompt Tokens")
        @Description("Prompt tokens computed in this step (chunked prefill)")
        int promptTokens;
        @Label("Decode Tokens")
        @Description("One per decoding sequence")
        int decodeTokens;
    }

    @Name(REQUEST)
    @Label("Generation Request")
    @Category("Panamax")
    @Description("A request that left the engine (finished, stopped, cancelled or failed); its duration runs from submission")
    @StackTrace(false)
    static final class Request extends Event {
        @Label("Prompt Tokens")
        int promptTokens;
        @Label("Cached Tokens")
        @Description("Prompt tokens whose KV came from the prefix cache")
        int cachedTokens;
        @Label("Generated Tokens")
        int generatedTokens;
        @Label("Time To First Token")
        @Timespan(Timespan.NANOSECONDS)
        long timeToFirstToken;
        @Label("Queue And Run Time")
        @Timespan(Timespan.NANOSECONDS)
        long totalTime;
        @Label("Stop Reason")
        @Description("length, end_of_generation, stop, context_full, cancelled, no_allowed_token, or error")
        String stopReason;
    }
}
