package dev.panamax.engine;

import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.TokenLogprob;
import dev.panamax.sampling.Sampler;
import dev.panamax.spec.Speculation;
import dev.panamax.tokenizer.TokenStreamDecoder;
import dev.panamax.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One request inside the engine: its tokens (the prompt, then what was sampled), how many of them are in the KV cache
 * ({@link #computed}), its block table, its own sampler (own RNG: its draws do not depend on what else runs), text
 * decoder and stop matcher. Owned by the scheduler thread; only {@link #cancel()} is called from other threads.
 */
public final class Sequence {

    /** Where the scheduler sends a sequence's output (the public handle implements it). */
    public interface Sink {
        /**
         * A sampled token, the text it completed (may be empty) and its log-probability (null unless the request asked);
         * on the scheduler thread, must return quickly.
         */
        void token(int id, String text, TokenLogprob logprob);

        void finish(Generation g);

        void fail(Throwable t);
    }

    final GenerationRequest request;
    final Sink sink;
    final int promptLength, maxTokens;
    final Sampler sampler;
    final TokenStreamDecoder decoder;
    final StopMatcher stop;
    final long submittedNanos;
    int[] tokens; // prompt then generated
    int length;
    int computed; // tokens whose KV rows are in the cache
    int[] table; // block ids
    int nBlocks;
    int hashedBlocks; // leading full blocks registered in (or taken from) the prefix cache
    long lastHash; // chain hash of block hashedBlocks - 1
    int cachedTokens; // prompt tokens taken from the prefix cache (first admission)
    boolean admitted;
    boolean inQueue = true; // counted among the engine's waiting requests
    long firstTokenNanos, promptDoneNanos, scheduledNanos; // scheduled: first step that computed it
    final StringBuilder text = new StringBuilder();
    final List<TokenLogprob> logprobs; // null unless the request asked for them
    // speculation: the drafter and k limit, this step's drafts, the MTP layer's guess for position mtpDraftAt, the
    // positions p whose MTP row (h_p, t_(p+1)) is in the MTP cache ([0, mtpComputed))
    final Speculation spec;
    final int[] draft;
    int mtpDraft = -1, mtpDraftAt = -1, mtpComputed;
    // draft model (DraftModelRunner): its block table in the draft's own pool, the positions whose draft KV rows hold
    // this sequence's tokens, the draft rows written after them (draft[0..draftTail), checked against the tokens
    // that really follow), how many drafts were prepared for this step, and the positions the draft's head has counted
    // (its token frequencies: each position once, even when the draft computes it again), and the sequence position
    // of the draft's position 0 (above 0 once the draft restarted on a window of the latest tokens)
    final int[] draftTable;
    int draftBlocks, draftComputed, draftTail, draftReady, draftCounted, draftBase;
    boolean done; // ended: its blocks are released
    private volatile boolean cancelled;

    Sequence(GenerationRequest request, Sink sink, int vocab, Tokenizer tokenizer, int maxBlocks, Speculation spec) {
        this.spec = spec;
        this.draft = new int[spec.maxDraft()];
        this.request = request;
        this.sink = sink;
        int[] prompt = request.promptTokens(); // a copy (the request keeps its own)
        this.promptLength = prompt.length;
        this.maxTokens = request.maxTokens();
        this.sampler = new Sampler(request.sampling(), vocab, tokenizer);
        if (request.logprobs() >= 0) sampler.enableLogprobs(request.logprobs());
        this.logprobs = request.logprobs() >= 0 ? new ArrayList<>() : null;
        this.decoder = new TokenStreamDecoder(tokenizer, request.preservedTokens());
        this.stop = new StopMatcher(request.stop());
        this.tokens = Arrays.copyOf(prompt, promptLength + Math.min(maxTokens, 256) + 1);
        this.length = promptLength;
        this.table = new int[maxBlocks];
        this.draftTable = spec.mode() == Speculation.Mode.DRAFT ? new int[maxBlocks] : null;
        this.submittedNanos = System.nanoTime();
        for (int i = 0; i < promptLength; i++) sampler.accept(tokens[i]);
    }

    /** Stops the request at the next step boundary (from any thread). */
    public void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    int generated() {
        return length - promptLength;
    }

    /** Room for n more tokens after {@link #length} (drafts are written there before they are verified). */
    void reserve(int n) {
        if (length + n > tokens.length) tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, length + n + 16));
    }

    void append(int token) {
        if (length == tokens.length) tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, length + 16));
        tokens[length++] = token;
    }

    /** The sampler's report on the token it just chose. */
    TokenLogprob lastLogprob(int token) {
        int k = sampler.topCount();
        int[] ids = new int[k];
        float[] lps = new float[k];
        for (int i = 0; i < k; i++) {
            ids[i] = sampler.topToken(i);
            lps[i] = sampler.topLogprob(i);
        }
        return new TokenLogprob(token, sampler.chosenLogprob(), ids, lps);
    }

    /** The outcome so far, with this stop reason. */
    Generation outcome(Generation.StopReason why) {
        long end = System.nanoTime();
        int n = generated();
        double promptSec = promptDoneNanos > 0 ? (promptDoneNanos - submittedNanos) / 1e9 : 0;
        double decodeSec = n > 1 && firstTokenNanos > 0 ? (end - firstTokenNanos) / 1e9 : 0;
        return new Generation(request.promptTokens(), Arrays.copyOfRange(tokens, promptLength, length), text.toString(),
                promptSec > 0 ? (promptLength - cachedTokens) / promptSec : 0, decodeSec > 0 ? (n - 1) / decodeSec : 0,
                firstTokenNanos > 0 ? (firstTokenNanos - submittedNanos) / 1e6 : 0, why, cachedTokens, logprobs,
                ((scheduledNanos > 0 ? scheduledNanos : end) - submittedNanos) / 1e6, (end - submittedNanos) / 1e6);
    }
}
