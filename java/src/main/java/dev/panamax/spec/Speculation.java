package dev.panamax.spec;

import java.util.Locale;

/**
 * How a request (or an engine, as its default) speculates: which drafter and at most how many drafted tokens per
 * step ({@code maxDraft}, the k of a (k+1)-row verification). {@code adaptive}: k per step from {@link DraftPolicy}
 * (0 when drafting does not pay); otherwise every draft the drafter has, up to {@code maxDraft} (for measurements).
 * {@link #OFF}: plain decoding.
 */
public record Speculation(Mode mode, int maxDraft, boolean adaptive) {

    /** The drafters. */
    public enum Mode {
        /** No speculation. */
        OFF,
        /** Prompt lookup: the continuation of the latest earlier occurrence of the sequence's last n tokens. */
        NGRAM,
        /** DeepSeek-V3 multi-token prediction: the model's own nextn layer (deepseek2 files that have one). */
        MTP
    }

    /** The most drafted tokens per step. */
    public static final int MAX_DRAFT = 16;

    public static final Speculation OFF = new Speculation(Mode.OFF, 0);

    public Speculation(Mode mode, int maxDraft) {
        this(mode, maxDraft, true);
    }

    /** The same drafter and k, drafting as much as it can every step. */
    public Speculation fixed() {
        return new Speculation(mode, maxDraft, false);
    }

    public Speculation {
        if (mode == null) throw new IllegalArgumentException("speculation mode is null");
        if (mode == Mode.OFF) maxDraft = 0;
        else if (maxDraft < 1 || maxDraft > MAX_DRAFT) {
            throw new IllegalArgumentException("draft length must be in 1.." + MAX_DRAFT + ", got " + maxDraft);
        }
    }

    /** The default k of a drafter: prompt lookup drafts long runs cheaply; one MTP layer predicts one token ahead. */
    public static int defaultDraft(Mode m) {
        return switch (m) {
            case OFF -> 0;
            case NGRAM -> 8;
            case MTP -> 1;
        };
    }

    /**
     * Parses the CLI / request spelling: {@code off|none}, {@code ngram}, {@code mtp}; {@code k <= 0} takes the
     * drafter's default.
     */
    public static Speculation parse(String s, int k) {
        String m = s == null ? "off" : s.trim().toLowerCase(Locale.ROOT);
        Mode mode = switch (m) {
            case "off", "none", "" -> Mode.OFF;
            case "ngram", "lookup" -> Mode.NGRAM;
            case "mtp" -> Mode.MTP;
            default -> {
                if (m.startsWith("draft:")) throw new IllegalArgumentException("draft-model speculation is not implemented yet (use ngram or mtp)");
                throw new IllegalArgumentException("unknown speculation '" + s + "': off, ngram or mtp");
            }
        };
        return new Speculation(mode, mode == Mode.OFF ? 0 : k > 0 ? k : defaultDraft(mode));
    }

    public boolean on() {
        return mode != Mode.OFF;
    }

    @Override
    public String toString() {
        return on() ? mode.name().toLowerCase(Locale.ROOT) + (adaptive ? " (adaptive k <= " : " (k = ") + maxDraft + ")" : "off";
    }
}
