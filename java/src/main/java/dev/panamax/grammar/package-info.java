/**
 * Constrained generation: the output follows a grammar. {@link dev.panamax.grammar.Grammar} parses llama.cpp's GBNF
 * (same rule numbering, rewriting of repetitions and limits; errors with line and column, undefined rules and left
 * recursion rejected) or converts a JSON Schema ({@link dev.panamax.grammar.JsonSchemaGrammar}, unsupported keywords
 * are errors); a compiled grammar is immutable and shared. {@link dev.panamax.grammar.GrammarMatcher} is one
 * sequence's state in it with llama.cpp's stack-based semantics (a set of pushdown stacks plus a partial UTF-8
 * sequence: a token may end inside a multi-byte character) and the token mask there: a token is allowed iff its piece
 * ({@code llama_token_to_piece(special=true)}) keeps the output a prefix of the language, end of generation iff the
 * grammar can end. The automaton and the masks are shared by all matchers of one Grammar instance per vocabulary
 * ({@code MaskCache}, thread-safe; {@link dev.panamax.grammar.Grammar#parse} returns the same instance for a recent
 * text); a mask is computed once per state: the union of what each of its stacks' top frames allows on its own
 * (computed once per grammar by a walk of the vocabulary's trie, {@code VocabIndex}, once per tokenizer, that skips
 * rejected prefixes) plus a walk from the state through only the tokens that depend on the rest of a stack. {@link dev.panamax.sampling.Sampler} checks its sampled token first and masks only when
 * the grammar rejects it; greedy decoding picks exactly the token llama.cpp's grammar sampler picks.
 */
package dev.panamax.grammar;
