/**
 * The serving engine behind {@link dev.panamax.Engine}: many requests, one forward pass per step. Contract: one
 * {@link dev.panamax.engine.Scheduler} thread owns everything here and is the only caller of the kernels (one native
 * thread pool per engine); other threads only submit and cancel. Each step the scheduler gathers one token of every
 * decoding {@link dev.panamax.engine.Sequence} and chunks of prompts under a token budget (continuous batching with
 * chunked prefill), the {@link dev.panamax.engine.KvBlockManager} hands out fixed-size blocks of the paged KV pool (block
 * tables, reference counts, the prefix cache of full blocks by chained token hash, LRU eviction), and the
 * {@link dev.panamax.engine.ModelRunner} runs the model's batched {@link dev.panamax.model.ForwardPass} over the mixed
 * batch; then every sequence samples with its own sampler (its own RNG, so a seeded request draws the same tokens
 * whatever else runs) and matches its stop strings on the decoded text. A finished or cancelled request frees its
 * blocks before the next step; closing the engine cancels what is in flight and waits for the running step.
 * {@link dev.panamax.engine.DecodeLoop} is the single-sequence loop of {@link dev.panamax.Session}.
 */
package dev.panamax.engine;
