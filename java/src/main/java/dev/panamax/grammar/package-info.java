/**
 * Constrained generation: the output follows a grammar. {@link dev.panamax.grammar.Grammar} parses llama.cpp's GBNF
 * (same rule numbering, rewriting of repetitions and limits; errors with line and column, undefined rules and left
 * recursion rejected) or converts a JSON Schema ({@link dev.panamax.grammar.JsonSchemaGrammar}, unsupported keywords
 * are errors); a compiled grammar is immutable and shared. {@link dev.panamax.grammar.GrammarMatcher} is one
 * sequence's state in it with llama.cpp's stack-based semantics (a set of pushdown stacks plus a partial UTF-8
 * sequence: a token may end inside a multi-byte character) and the token mask there: a token is allowed iff its piece
 * ({@code llama_token_to_piece(special=true)}) keeps the output a prefix of the language, end of generation iff the
 * grammar can end. Masks come from one walk of the vocabulary in sorted (trie) order and are cached per state, so
 * greedy decoding under a grammar picks exactly the token llama.cpp's grammar sampler picks, at the cost of a cache
 * lookup and one pass over the logits per token once states repeat. {@link dev.panamax.sampling.Sampler} applies it.
 */
package dev.panamax.grammar;
