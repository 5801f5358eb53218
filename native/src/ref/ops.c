/* Scalar reference element-wise and reduction kernels. */
#include "ref.h"

/* Keeps the k best seen so far in idx/val, sorted descending; a new value enters by insertion. Ties keep
 * the earlier index first because an equal value never moves ahead of one already there. */
void pmx_ref_topk_f32(const float *x, int64_t n, int32_t k, int32_t *idx, float *val) {
    int32_t filled = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v != v) continue; /* NaN never ranks */
        if (filled == k && !(v > val[k - 1])) continue;
        int32_t j = filled < k ? filled++ : k - 1;
        while (j > 0 && v > val[j - 1]) {
            val[j] = val[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        val[j] = v;
        idx[j] = (int32_t)i;
    }
    for (int32_t j = filled; j < k; j++) { /* fewer than k numbers: pad with -inf, index -1 */
        val[j] = -__builtin_inff();
        idx[j] = -1;
    }
}

void pmx_ref_register_ops(pmx_kernels *k) {
    (void)k;
}
