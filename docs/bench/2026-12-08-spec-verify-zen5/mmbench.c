/* pmx_matmul time per call for the KJV llama's shapes, batch 1..4, through the library's public API. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "panamax.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
    int type = argc > 1 ? atoi(argv[1]) : 1; /* 1 = F16 */
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 2000;
    int packed = argc > 4 ? atoi(argv[4]) : 0;
    pmx_pool *pool = threads > 1 ? pmx_pool_create(threads) : NULL;
    int64_t shapes[16][2] = {{128, 256}, {256, 256}, {512, 256}, {256, 512}, {4096, 256}, {1024, 256}};
    int n_shapes = 6;
    if (argc > 5) {
        n_shapes = 0;
        for (int i = 5; i < argc && n_shapes < 16; i++, n_shapes++) sscanf(argv[i], "%ldx%ld", &shapes[n_shapes][0], &shapes[n_shapes][1]);
    }
    for (int s = 0; s < n_shapes; s++) {
        int64_t R = shapes[s][0], N = shapes[s][1];
        int64_t wb = pmx_type_block_bytes(type) * N / pmx_type_block_size(type) * R;
        float *src = malloc(R * N * 4);
        for (int64_t i = 0; i < R * N; i++) src[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        void *w = aligned_alloc(64, (wb + 63) / 64 * 64);
        pmx_quantize(type, w, src, R, N);
        void *wp = w;
        if (packed && pmx_pack_bytes(type, R, N) > 0) { wp = aligned_alloc(64, (pmx_pack_bytes(type, R, N) + 63) / 64 * 64); pmx_pack(pool, type, wp, w, R, N); }
        float *x = malloc(8 * N * 4), *y = malloc(8 * R * 4);
        for (int64_t i = 0; i < 8 * N; i++) x[i] = (float)((i * 31) % 97) / 97.0f - 0.5f;
        double base = 0;
        printf("%5lldx%-4lld", (long long)R, (long long)N);
        for (int b = 1; b <= 5; b++) {
            int64_t sb = wp != w ? pmx_matmul_packed_scratch_bytes(type, N, b) : pmx_matmul_scratch_bytes(type, N, b);
            void *sc = aligned_alloc(64, (sb + 64) / 64 * 64 + 64);
            double best = 1e30;
            for (int t = 0; t < 5; t++) {
                double t0 = now();
                for (int r = 0; r < reps; r++) {
                    if (wp != w) pmx_matmul_packed(pool, type, wp, R, N, x, b, y, sc, sb);
                    else pmx_matmul(pool, type, wp, R, N, x, b, y, sc, sb);
                }
                double dt = (now() - t0) / reps;
                if (dt < best) best = dt;
            }
            if (b == 1) base = best;
            printf("  b%d %7.2f us (%.2fx)", b, best / 1e3, best / base);
            free(sc);
        }
        printf("\n");
        free(src); free(x); free(y); if (wp != w) free(wp); free(w);
    }
    if (pool) pmx_pool_destroy(pool);
    return 0;
}
