package dev.panamax.engine;

import java.util.List;

/**
 * Finds a request's stop strings in its generated text as the pieces arrive, across token boundaries: text that could
 * still turn into a stop string is held back, the rest is released; on a match, the text before it is released and
 * the stop string never is. One per sequence; not thread-safe.
 */
final class StopMatcher {

    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Adds a piece; returns the text now safe to emit. After a match, {@link #stopped()} is true. */
    String push(String piece) {
        if (stops.isEmpty()) return piece;
        held.append(piece);
        int at = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) at = i;
        }
        if (at >= 0) {
            stopped = true;
            String out = held.substring(0, at);
            held.setLength(0);
            return out;
        }
        // hold back the longest tail that is a prefix of some stop string
        int keep = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, held.length()); k > keep; k--) {
                if (tailIs(s, k)) { keep = k; break; }
            }
        }
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** Whether the held text ends with the first k chars of s. */
    private boolean tailIs(String s, int k) {
        int from = held.length() - k;
        for (int i = 0; i < k; i++) if (held.charAt(from + i) != s.charAt(i)) return false;
        return true;
    }

    /** The end of generation without a match: whatever was held back. */
    String flush() {
        String out = held.toString();
        held.setLength(0);
        return out;
    }

    boolean stopped() {
        return stopped;
    }
}
