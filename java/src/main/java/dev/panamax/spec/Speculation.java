package dev.panamax.spec;

import java.nio.file.Path;
import java.util.Locale;

/**
 * How a request (or an engine, as its default) speculates: which drafter and at most how many drafted tokens per
 * step ({@code maxDraft}, the k of a (k+1)-row verification). {@code adaptive}: k per step from {@link DraftPolicy}
 * (0 when drafting does not pay); otherwise every draft the drafter has, up to {@code maxDraft} (for measurements).
 * {@code draftModel}: the GGUF file of the {@link Mode#DRAFT} drafter, for an engine's default (an engine loads it
 * once); null in a request, which uses its engine's draft model. {@link #OFF}: plain decoding.
 */
public record Speculation(Mode mode, int maxDraft, boolean adaptive, Path draftModel) {

    /** The drafters. */
    public enum Mode {
        /** No speculation. */
        OFF,
        /** Prompt lookup: the continuation of the latest earlier occurrence of the sequence's last n tokens. */
        NGRAM,
        /** DeepSeek-V3 multi-token prediction: the model's own nextn layer (deepseek2 files that have one). */
        MTP,
        /** A smaller model with the same vocabulary, run greedily k steps ahead (its own KV blocks in the engine). */
        DRAFT
    }

    /** The most drafted tokens per step. */
    public static final int MAX_DRAFT = 16;

    public static final Speculation OFF = new Speculation(Mode.OFF, 0);

    public Speculation(Mode mode, int maxDraft) {
        this(mode, maxDraft, true);
    }

    public Speculation(Mode mode, int maxDraft, boolean adaptive) {
        this(mode, maxDraft, adaptive, null);
    }

    /** Draft-model speculation with the model in {@code file} (an engine's default). */
    public static Speculation draft(Path file, int maxDraft) {
        return new Speculation(Mode.DRAFT, maxDraft, true, file);
    }

    /** The same drafter and k, drafting as much as it can every step. */
    public Speculation fixed() {
        return new Speculation(mode, maxDraft, false, draftModel);
    }

    public Speculation {
        if (mode == null) throw new IllegalArgumentException("speculation mode is null");
        if (mode == Mode.OFF) maxDraft = 0;
        else if (maxDraft < 1 || maxDraft > MAX_DRAFT) {
            throw new IllegalArgumentException("draft length must be in 1.." + MAX_DRAFT + ", got " + maxDraft);
        }
        if (draftModel != null && mode != Mode.DRAFT) throw new IllegalArgumentException("a draft model file is for draft speculation, not " + mode);
    }

    /**
     * The default k of a drafter: prompt lookup drafts long runs cheaply; one MTP layer predicts one token ahead; a
     * draft model pays one small forward pass per drafted position (and stops early where it is unsure).
     */
    public static int defaultDraft(Mode m) {
        return switch (m) {
            case OFF -> 0;
            case NGRAM -> 8;
            case MTP -> 1;
            case DRAFT -> 4;
        };
    }

    /**
     * Parses the CLI / request spelling: {@code off|none}, {@code ngram}, {@code mtp}, {@code draft:FILE.gguf} (an
     * engine's draft model) or {@code draft} (a request: its engine's draft model); {@code k <= 0} takes the drafter's
     * default.
     */
    public static Speculation parse(String s, int k) {
        String m = s == null ? "off" : s.trim();
        String lower = m.toLowerCase(Locale.ROOT);
        Path file = null;
        Mode mode = switch (lower) {
            case "off", "none", "" -> Mode.OFF;
            case "ngram", "lookup" -> Mode.NGRAM;
            case "mtp" -> Mode.MTP;
            case "draft" -> Mode.DRAFT;
            default -> {
                if (lower.startsWith("draft:") && m.length() > 6) {
                    file = Path.of(m.substring(6));
                    yield Mode.DRAFT;
                }
                throw new IllegalArgumentException("unknown speculation '" + s + "': off, ngram, mtp or draft:MODEL.gguf");
            }
        };
        return new Speculation(mode, mode == Mode.OFF ? 0 : k > 0 ? k : defaultDraft(mode), true, file);
    }

    public boolean on() {
        return mode != Mode.OFF;
    }

    @Override
    public String toString() {
        if (!on()) return "off";
        String name = mode.name().toLowerCase(Locale.ROOT) + (draftModel != null ? ":" + draftModel.getFileName() : "");
        return name + (adaptive ? " (adaptive k <= " : " (k = ") + maxDraft + ")";
    }
}
