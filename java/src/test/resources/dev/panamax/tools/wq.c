// wq: ggml_quantize_chunk with an importance matrix. usage: wq TYPE_ID NROWS NCOLS SRC.f32 IMATRIX.f32 OUT
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
int main(int argc, char **argv) {
    if (argc != 7) return 2;
    int type = atoi(argv[1]); long nr = atol(argv[2]), nc = atol(argv[3]);
    float *src = malloc(4 * nr * nc), *im = malloc(4 * nc);
    FILE *f = fopen(argv[4], "rb"); if (!f || fread(src, 4, nr * nc, f) != (size_t)(nr * nc)) return 1; fclose(f);
    f = fopen(argv[5], "rb"); if (!f || fread(im, 4, nc, f) != (size_t)nc) return 1; fclose(f);
    size_t rs = ggml_row_size(type, nc);
    void *dst = calloc(nr, rs);
    size_t n = ggml_quantize_chunk(type, src, dst, 0, nr, nc, im);
    f = fopen(argv[6], "wb"); fwrite(dst, 1, n, f); fclose(f);
    return 0;
}
