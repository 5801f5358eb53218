/**
 * Speculative decoding: more than one token out of each pass over the weights. Contract: a drafter guesses the next
 * tokens of a decoding sequence cheaply ({@link dev.panamax.spec.NgramDrafter}: prompt lookup in the sequence's own
 * tokens, falling back on the engine's {@link dev.panamax.spec.NgramPool} of earlier requests' n-grams; MTP: the
 * {@code deepseek2} file's multi-token-prediction layer, run by the engine on the trunk's last hidden state; a draft
 * model with the same vocabulary ({@link dev.panamax.spec.DraftVocabulary}), run by the engine, batched over the
 * sequences, on a KV pool of its own), the engine appends the k guesses to the sequence's row of its next step (k+1
 * rows in the same batched forward as every other sequence's rows) and then samples those rows in order with the
 * sequence's own sampler, stopping at the first token that differs from the guess. Every emitted token is therefore
 * exactly the token decoding without speculation would have emitted (same logits, same sampler state, same RNG draws:
 * one per emitted token), greedy or seeded; for a sampled request this is the speculative-sampling rule of Leviathan
 * et al. / Chen et al. for a deterministic draft (accept x with probability p(x), else draw from p without x).
 * Rejected rows' KV entries are simply never counted as computed (their blocks go back to the pool, their tokens never
 * reach the prefix cache). {@link dev.panamax.spec.DraftPolicy} picks k per sequence and step from the sequence's
 * running acceptance and the measured cost of steps by row count, drafts nothing when the extra rows cost more than
 * they return, and switches drafting off for whole steps while steps without it have been emitting more tokens per
 * second at the same number of sequences.
 */
package dev.panamax.spec;
