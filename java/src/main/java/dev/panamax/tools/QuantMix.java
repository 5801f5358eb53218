package dev.panamax.tools;

import static dev.panamax.tools.QuantFileType.Ggml.*;

import dev.panamax.gguf.GgmlTypeTable;
import dev.panamax.tools.QuantFileType.Ggml;
import java.util.ArrayList;
import java.util.List;

/**
 * llama.cpp's choice of a type per tensor for a file type ({@code llama-quant.cpp}: tensor_allows_quantization,
 * llama_tensor_get_type_impl, tensor_type_fallback), rule for rule, so that a mix gives the same types as
 * {@code llama-quantize}. Stateful as llama.cpp's is: counters of attn_v / ffn_* tensors advance in file order, so
 * call {@link #decide} once over all tensors in output order.
 */
final class QuantMix {

    /** What the rules need of a model: from its metadata, as llama.cpp's hparams. */
    record ModelInfo(String arch, int nLayer, int nExpert, int nGqa, boolean is70B) {
    }

    /** One tensor in output order: name, dims (trailing 1s trimmed, as ggml_n_dims), source type id. */
    record TensorInfo(String name, long[] ne, int type) {
        int nDims() {
            return ne.length;
        }

        long ne(int i) {
            return i < ne.length ? ne[i] : 1;
        }
    }

    enum Category { TOKEN_EMBD, ATTENTION_Q, ATTENTION_V, ATTENTION_K, ATTENTION_QKV, ATTENTION_KV_B, ATTENTION_OUTPUT,
        FFN_UP, FFN_GATE, FFN_DOWN, OUTPUT, OTHER }

    private final ModelInfo model;
    private final QuantFileType ftype;
    private final boolean pure, hasImatrix;
    private int nAttentionWv, iAttentionWv, nFfnDown, iFfnDown, nFfnGate, iFfnGate, nFfnUp, iFfnUp;
    private boolean tiedEmbeddings = true;
    final List<String> warnings = new ArrayList<>();

    QuantMix(ModelInfo model, QuantFileType ftype, boolean pure, boolean hasImatrix) {
        this.model = model;
        this.ftype = ftype;
        this.pure = pure;
        this.hasImatrix = hasImatrix;
    }

    /** The target type id of every tensor, in order (the source type where a tensor is not quantized). */
    int[] decide(List<TensorInfo> tensors) {
        for (TensorInfo t : tensors) {
            Category c = category(t.name());
            if (isAttnV(c)) nAttentionWv++;
            if (c == Category.OUTPUT) tiedEmbeddings = false;
        }
        nFfnDown = nFfnGate = nFfnUp = model.nLayer();
        int[] out = new int[tensors.size()];
        for (int i = 0; i < out.length; i++) {
            TensorInfo t = tensors.get(i);
            out[i] = allowsQuantization(t) ? typeFor(t, category(t.name())) : t.type();
        }
        return out;
    }

    static Category category(String n) {
        if (n.equals("output.weight")) return Category.OUTPUT;
        if (n.equals("token_embd.weight") || n.equals("per_layer_token_embd.weight")) return Category.TOKEN_EMBD;
        if (n.contains("attn_qkv.weight")) return Category.ATTENTION_QKV;
        if (n.contains("attn_kv_b.weight")) return Category.ATTENTION_KV_B;
        if (n.contains("attn_v.weight")) return Category.ATTENTION_V;
        if (n.contains("attn_k.weight")) return Category.ATTENTION_K;
        if (n.contains("attn_q.weight")) return Category.ATTENTION_Q;
        if (n.contains("attn_output.weight")) return Category.ATTENTION_OUTPUT;
        if (n.contains("ffn_up")) return Category.FFN_UP;
        if (n.contains("ffn_gate")) return Category.FFN_GATE;
        if (n.contains("ffn_down")) return Category.FFN_DOWN;
        return Category.OTHER;
    }

    private static boolean isAttnV(Category c) {
        return c == Category.ATTENTION_V || c == Category.ATTENTION_QKV || c == Category.ATTENTION_KV_B;
    }

    private static final String[] NEVER = {"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
        "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
        ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};

    /** llama.cpp's tensor_allows_quantization with default parameters (the output tensor is quantized). */
    static boolean allowsQuantization(TensorInfo t) {
        if (t.nDims() < 2) return false;
        String n = t.name();
        if (!n.endsWith("weight")) return false;
        for (String s : NEVER) if (n.contains(s)) return false;
        return !n.equals("position_embd.weight") && !n.equals("token_types.weight");
    }

    private int typeFor(TensorInfo t, Category cat) {
        int newType = ftype.defaultType();
        if (Ggml.isQuantized(newType)) {
            if (!pure) newType = impl(newType, t, cat);
            newType = fallback(t, newType);
        }
        return newType;
    }

    private int fallback(TensorInfo t, int target) {
        long ncols = t.ne(0);
        int qk = GgmlTypeTable.blockSize(target);
        int r = fallbackType(target, ncols);
        if (r != target) {
            warnings.add(t.name() + ": " + ncols + " columns are not a multiple of " + qk + " (" + GgmlTypeTable.name(target)
                    + "): falling back to " + GgmlTypeTable.name(r));
        }
        return r;
    }

    /** llama.cpp's tensor_type_fallback: the type a row of {@code ncols} values gets instead of {@code target}. */
    static int fallbackType(int target, long ncols) {
        int qk = GgmlTypeTable.blockSize(target);
        if (ncols % qk == 0) return target;
        int r = switch (target) {
            case IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_XS -> IQ4_NL;
            case Q2_0, Q2_K, Q3_K, TQ1_0, TQ2_0 -> Q4_0;
            case Q4_K -> Q5_0;
            case Q5_K -> Q5_1;
            case Q6_K -> Q8_0;
            default -> {
                if (qk <= 32) yield target;
                throw new IllegalArgumentException("no tensor type fallback is defined for type " + GgmlTypeTable.name(target));
            }
        };
        if (ncols % GgmlTypeTable.blockSize(r) != 0) r = F16;
        return r;
    }

    private static boolean useMoreBits(int i, int n) {
        return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    }

    /** The layer of an FFN tensor: its counter, or (MoE models) the number in its name, as llama.cpp's layer_info. */
    private int layer(int counter, String name) {
        if (Math.max(1, model.nExpert()) <= 1) return counter;
        int l;
        try {
            if (!name.startsWith("blk.")) throw new NumberFormatException();
            int dot = name.indexOf('.', 4);
            l = Integer.parseInt(name.substring(4, dot < 0 ? name.length() : dot));
        } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
            throw new IllegalArgumentException("Failed to determine layer for tensor " + name);
        }
        if (l < 0 || l >= model.nLayer()) throw new IllegalArgumentException("Bad layer " + l + " for tensor " + name);
        return l;
    }

    private boolean is(QuantFileType... ts) {
        for (QuantFileType t : ts) if (ftype == t) return true;
        return false;
    }

    /** llama_tensor_get_type_impl. */
    private int impl(int newType, TensorInfo t, Category cat) {
        int nGqa = model.nGqa(), nExpert = model.nExpert();
        boolean falcon = model.arch().equals("falcon");
        if (cat == Category.OUTPUT || (tiedEmbeddings && cat == Category.TOKEN_EMBD)) {
            long nx = t.ne(0);
            int qk = GgmlTypeTable.blockSize(newType);
            if (ftype == QuantFileType.MXFP4_MOE) newType = Q8_0;
            else if (falcon || nx % qk != 0) newType = Q8_0;
            else if (is(QuantFileType.IQ2_XXS, QuantFileType.IQ2_XS, QuantFileType.IQ3_XXS, QuantFileType.IQ1_S,
                    QuantFileType.IQ2_S, QuantFileType.IQ2_M, QuantFileType.IQ1_M)) newType = Q5_K;
            else if (newType != Q8_0) newType = Q6_K;
        } else if (ftype == QuantFileType.MXFP4_MOE) {
            boolean bailingExpert = model.arch().equals("bailingmoe3")
                    && (cat == Category.FFN_UP || cat == Category.FFN_GATE || cat == Category.FFN_DOWN);
            newType = t.ne(2) > 1 && (!model.arch().equals("bailingmoe3") || bailingExpert) ? MXFP4 : Q8_0;
        } else if (cat == Category.TOKEN_EMBD) {
            if (is(QuantFileType.IQ2_XXS, QuantFileType.IQ2_XS, QuantFileType.IQ1_S, QuantFileType.IQ1_M)) newType = Q2_K;
            else if (is(QuantFileType.IQ2_S, QuantFileType.IQ2_M)) newType = IQ3_S;
            else if (is(QuantFileType.IQ3_XXS)) newType = IQ3_S;
            else if (is(QuantFileType.TQ1_0, QuantFileType.TQ2_0, QuantFileType.Q2_0)) newType = Q4_K;
        } else if (is(QuantFileType.IQ2_XXS, QuantFileType.IQ2_XS, QuantFileType.IQ1_S, QuantFileType.IQ2_S,
                QuantFileType.IQ2_M, QuantFileType.IQ1_M)) {
            boolean iq2sm = is(QuantFileType.IQ2_S, QuantFileType.IQ2_M);
            if (isAttnV(cat)) {
                if (nGqa >= 4 || nExpert >= 4) newType = Q4_K;
                else newType = iq2sm ? IQ3_S : Q2_K;
                ++iAttentionWv;
            } else if (nExpert == 8 && cat == Category.ATTENTION_K) {
                newType = Q4_K;
            } else if (cat == Category.FFN_DOWN) {
                if (iFfnDown < nFfnDown / 8) newType = iq2sm ? IQ3_S : Q2_K;
                ++iFfnDown;
            } else if (cat == Category.ATTENTION_OUTPUT) {
                if (nExpert == 8) newType = Q5_K;
                else if (is(QuantFileType.IQ1_S, QuantFileType.IQ1_M)) newType = IQ2_XXS;
                else if (iq2sm) newType = IQ3_S;
            }
        } else if (isAttnV(cat)) {
            if (is(QuantFileType.Q2_K)) newType = nGqa >= 4 ? Q4_K : Q3_K;
            else if (is(QuantFileType.Q2_K_S) && nGqa >= 4) newType = Q4_K;
            else if (is(QuantFileType.IQ3_XXS)) newType = nGqa >= 4 ? Q4_K : !hasImatrix ? IQ3_S : IQ3_XXS;
            else if (is(QuantFileType.IQ3_XS, QuantFileType.IQ3_S) && nGqa >= 4) newType = Q4_K;
            else if (is(QuantFileType.IQ3_M)) newType = Q4_K;
            else if (is(QuantFileType.Q3_K_M)) newType = iAttentionWv < 2 ? Q5_K : Q4_K;
            else if (is(QuantFileType.Q3_K_L)) newType = Q5_K;
            else if (is(QuantFileType.IQ4_NL, QuantFileType.IQ4_XS) && nGqa >= 4) newType = Q5_K;
            else if (is(QuantFileType.Q4_K_M, QuantFileType.Q5_K_M) && useMoreBits(iAttentionWv, nAttentionWv)) newType = Q6_K;
            else if (is(QuantFileType.Q4_K_S) && iAttentionWv < 4) newType = Q5_K;
            if (model.is70B() && (newType == Q3_K || newType == Q4_K)) newType = Q5_K;
            if (nExpert == 8) newType = Q8_0;
            ++iAttentionWv;
        } else if (cat == Category.ATTENTION_K) {
            if (nExpert == 8) newType = Q8_0;
            else if (is(QuantFileType.IQ3_XS)) newType = IQ3_XXS;
            else if (is(QuantFileType.IQ3_XXS)) newType = IQ2_S;
        } else if (cat == Category.ATTENTION_Q) {
            if (is(QuantFileType.IQ3_XS)) newType = IQ3_XXS;
            else if (is(QuantFileType.IQ3_XXS)) newType = IQ2_S;
        } else if (cat == Category.FFN_DOWN) {
            int il = layer(iFfnDown, t.name()), nl = nFfnDown;
            if (is(QuantFileType.Q2_K)) newType = Q3_K;
            else if (is(QuantFileType.Q2_K_S)) {
                if (il < nl / 8) newType = Q4_K;
            } else if (is(QuantFileType.IQ3_XXS) && !hasImatrix) newType = il < nl / 8 ? Q4_K : Q3_K;
            else if (is(QuantFileType.Q3_K_M)) {
                newType = il < nl / 16 ? Q5_K : !falcon || useMoreBits(il, nl) ? Q4_K : Q3_K;
            } else if (is(QuantFileType.IQ3_M) && (il < nl / 8 || (nExpert == 8 && useMoreBits(il, nl)))) newType = Q4_K;
            else if (is(QuantFileType.Q3_K_L)) newType = falcon ? Q4_K : Q5_K;
            else if (is(QuantFileType.Q4_K_M)) {
                if (falcon) newType = il < nl / 16 ? Q6_K : useMoreBits(il, nl) ? Q5_K : Q4_K;
                else if (useMoreBits(il, nl)) newType = Q6_K;
            } else if (il < nl / 8 && is(QuantFileType.IQ4_NL, QuantFileType.IQ4_XS) && !hasImatrix) newType = Q5_K;
            else if (is(QuantFileType.Q5_K_M) && useMoreBits(il, nl)) newType = Q6_K;
            else if (is(QuantFileType.Q4_K_S) && !falcon && il < nl / 8) newType = Q5_K;
            else if (is(QuantFileType.Q4_0, QuantFileType.Q5_0) && hasImatrix && il < nl / 8) {
                newType = ftype == QuantFileType.Q4_0 ? Q4_1 : Q5_1;
            }
            ++iFfnDown;
        } else if (cat == Category.ATTENTION_OUTPUT) {
            if (!falcon) {
                if (nExpert == 8) {
                    if (is(QuantFileType.Q2_K, QuantFileType.IQ3_XS, QuantFileType.IQ3_XXS, QuantFileType.Q3_K_S,
                            QuantFileType.Q3_K_M, QuantFileType.IQ4_NL, QuantFileType.Q4_K_S, QuantFileType.Q4_K_M,
                            QuantFileType.IQ3_S, QuantFileType.IQ3_M, QuantFileType.IQ4_XS)) newType = Q5_K;
                } else {
                    if (is(QuantFileType.Q2_K)) newType = Q3_K;
                    else if (is(QuantFileType.IQ3_XXS)) newType = IQ3_S;
                    else if (is(QuantFileType.Q3_K_M)) newType = Q4_K;
                    else if (is(QuantFileType.Q3_K_L)) newType = Q5_K;
                    else if (is(QuantFileType.IQ3_M)) newType = Q4_K;
                }
            } else if (is(QuantFileType.Q3_K_L)) {
                newType = Q4_K;
            }
        } else if (cat == Category.ATTENTION_QKV) {
            if (is(QuantFileType.Q3_K_M, QuantFileType.Q3_K_L, QuantFileType.IQ3_M)) newType = Q4_K;
            else if (is(QuantFileType.Q4_K_M)) newType = Q5_K;
            else if (is(QuantFileType.Q5_K_M)) newType = Q6_K;
        } else if (cat == Category.FFN_GATE) {
            int il = layer(iFfnGate, t.name()), nl = nFfnGate;
            if (is(QuantFileType.IQ3_XS) && il >= nl / 8 && il < 7 * nl / 8) newType = IQ3_XXS;
            ++iFfnGate;
        } else if (cat == Category.FFN_UP) {
            int il = layer(iFfnUp, t.name()), nl = nFfnUp;
            if (is(QuantFileType.IQ3_XS) && il >= nl / 8 && il < 7 * nl / 8) newType = IQ3_XXS;
            ++iFfnUp;
        }
        return newType;
    }

    /** llama.cpp's tensor_requires_imatrix: the very low-bit types are garbage without one. */
    boolean requiresImatrix(String name, int type) {
        if (name.equals("token_embd.weight") || name.equals("per_layer_token_embd.weight") || name.equals("output.weight")) return false;
        return switch (type) {
            case IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_M, IQ1_S -> true;
            case Q2_K -> ftype == QuantFileType.Q2_K_S;
            default -> false;
        };
    }
}
